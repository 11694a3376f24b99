"""Where the agents app's REST resources live, per project."""

from planning.models import Project


def url(project: Project, resource: str, *parts: object) -> str:
    tail = "".join(f"{part}/" for part in parts)
    return f"/api/v1/projects/{project.slug}/{resource}/{tail}"
