"""The demo plan as an upload and as an import, a Task Master file, and a change to the
plan, shared by the tests of the version pages."""

import io
import zipfile
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from planning.importers import ImportSource
from planning.models import DevPlanVersion, Project, Task, TaskDependency
from planning.services.imports import plan_import
from tests.factories import TaskFactory

DEMO = Path(settings.BASE_DIR) / "planning" / "demo" / ".planning"
DEMO_TASKS = 10

TASKS_JSON = {
    "master": {
        "tasks": [
            {"id": 1, "title": "Set up repo", "status": "done", "dependencies": []},
            {
                "id": 2,
                "title": "Build API",
                "dependencies": [1],
                "subtasks": [{"id": 1, "title": "Models", "dependencies": []}],
            },
        ],
        "metadata": {"name": "Main"},
    }
}


def demo_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(DEMO.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(DEMO.parent).as_posix())
    return buffer.getvalue()


def import_demo(project: Project) -> DevPlanVersion:
    outcome = plan_import(project=project, source=ImportSource.from_path(DEMO), actor=project.owner)
    assert outcome.version is not None
    return outcome.version


def upload(name: str, data: bytes, fmt: str = "auto") -> dict[str, object]:
    return {"file": SimpleUploadedFile(name, data), "format": fmt}


def change_the_plan(project: Project) -> None:
    """Rename one task, drop one, add one with a new dependency."""
    Task.objects.filter(project=project, key="01-02-T1").update(
        name="Project-scoped viewsets, renamed", verify="first line\nsecond line"
    )
    Task.objects.filter(project=project, key="03-01-T1").delete()
    added = TaskFactory(project=project, key="04-01-T1", name="Brand new task")
    TaskDependency.objects.create(
        task=added, depends_on=Task.objects.get(project=project, key="01-01-T1")
    )
