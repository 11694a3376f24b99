"""Reading and changing a project's tasks as a person."""

from typing import Annotated, Any

import typer

from cli.config import project_slug
from cli.errors import NothingReady, reported
from cli.options import Json, Project, person_api
from cli.output import note, print_json, table, task_fields

MAX_PAGE_SIZE = 500


def _not_found(slug: str, key: str = "") -> str:
    if key:
        return f"No task {key!r} in project {slug!r} (or no such project that you are a member of)."
    return f"No project {slug!r} that you are a member of."


def _task_rows(tasks: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (t["key"], t["status"], t["priority"], t.get("wave"), t["name"], ", ".join(t["depends_on"]))
        for t in tasks
    ]


TASK_COLUMNS = ["key", "status", "priority", "wave", "name", "depends on"]


@reported
def next_task(project: Project = None, json_output: Json = False) -> None:
    """The next ready task: pending, every dependency done (exit code 3 when none is)."""
    slug = project_slug(project)
    task = person_api().json("GET", f"projects/{slug}/tasks/next/", not_found=_not_found(slug))
    if task is None:
        raise NothingReady(f"Nothing is ready in {slug}.")
    if json_output:
        print_json(task)
        return
    task_fields(task)


@reported
def list_tasks(
    project: Project = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            help="Only tasks of this status (repeatable): pending, in_progress, review, done, "
            "blocked, failed, cancelled, deferred",
            show_default=False,
        ),
    ] = None,
    feature: Annotated[
        str, typer.Option(help="Only tasks of this feature key.", show_default=False)
    ] = "",
    ready: Annotated[
        bool, typer.Option("--ready", help="Only ready tasks: pending, every dependency done.")
    ] = False,
    search: Annotated[
        str, typer.Option("--search", "-q", help="Key or name contains this.", show_default=False)
    ] = "",
    page: Annotated[int, typer.Option(min=1, help="Page number.")] = 1,
    page_size: Annotated[int, typer.Option(min=1, max=MAX_PAGE_SIZE, help="Tasks per page.")] = 100,
    json_output: Json = False,
) -> None:
    """List the project's tasks in plan order, a page at a time."""
    slug = project_slug(project)
    params: dict[str, Any] = {"page": page, "page_size": page_size}
    if status:
        params["status"] = status
    if feature:
        params["feature"] = feature
    if ready:
        params["ready"] = "true"
    if search:
        params["q"] = search
    answer = person_api().json(
        "GET", f"projects/{slug}/tasks/", params=params, not_found=_not_found(slug)
    )
    if json_output:
        print_json(answer)
        return
    tasks = answer["results"]
    if not tasks:
        note("No tasks match.")
        return
    shown = (page - 1) * page_size + len(tasks)
    more = f"; next: --page {page + 1}" if answer.get("next") else ""
    table(TASK_COLUMNS, _task_rows(tasks), caption=f"{shown} of {answer['count']}{more}")


@reported
def show(
    key: Annotated[str, typer.Argument(help="The task's key, e.g. 01-02-T1.")],
    project: Project = None,
    json_output: Json = False,
) -> None:
    """One task, whole."""
    slug = project_slug(project)
    task = person_api().json(
        "GET", f"projects/{slug}/tasks/{key}/", not_found=_not_found(slug, key)
    )
    if json_output:
        print_json(task)
        return
    task_fields(task)


@reported
def set_status(
    key: Annotated[str, typer.Argument(help="The task's key.")],
    status: Annotated[
        str,
        typer.Argument(
            help="pending, in_progress, review, done, blocked, failed, cancelled or deferred."
        ),
    ],
    project: Project = None,
    json_output: Json = False,
) -> None:
    """Change a task's status (its feature's and plan's statuses follow)."""
    slug = project_slug(project)
    task = person_api().json(
        "PATCH",
        f"projects/{slug}/tasks/{key}/",
        body={"status": status},
        not_found=_not_found(slug, key),
    )
    if json_output:
        print_json(task)
        return
    note(f"{task['key']} is {task['status']}.")


@reported
def add_task(
    key: Annotated[str, typer.Argument(help="The new task's key, unique in the project.")],
    name: Annotated[str, typer.Argument(help="What the task is, in a line.")],
    project: Project = None,
    feature: Annotated[str, typer.Option(help="Its feature's key.", show_default=False)] = "",
    sub_feature: Annotated[
        str, typer.Option(help="Its sub-feature's key (sets the feature too).", show_default=False)
    ] = "",
    description: Annotated[str, typer.Option(help="What to do.", show_default=False)] = "",
    priority: Annotated[str, typer.Option(help="high, medium or low.")] = "medium",
    verify: Annotated[str, typer.Option(help="How to check it is done.", show_default=False)] = "",
    files: Annotated[
        list[str] | None, typer.Option("--file", help="A file it touches (repeatable).")
    ] = None,
    json_output: Json = False,
) -> None:
    """Add a task to the project's plan."""
    slug = project_slug(project)
    body: dict[str, Any] = {"key": key, "name": name, "priority": priority}
    optional = {
        "feature": feature,
        "sub_feature": sub_feature,
        "description": description,
        "verify": verify,
        "files": files,
    }
    body.update({field: value for field, value in optional.items() if value})
    task = person_api().json(
        "POST", f"projects/{slug}/tasks/", body=body, not_found=_not_found(slug)
    )
    if json_output:
        print_json(task)
        return
    note(f"Added {task['key']} to {slug}.")
