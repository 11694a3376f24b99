"""Reading and changing a project's tasks as a person."""

from typing import Any

import click

from cli.config import project_slug
from cli.errors import NothingReady, reported
from cli.options import json_option, person_api, project_option
from cli.output import note, print_json, table, task_fields

MAX_PAGE_SIZE = 500
STATUSES = "pending, in_progress, review, done, blocked, failed, cancelled or deferred"
TASK_COLUMNS = ["key", "status", "priority", "wave", "name", "depends on"]


def _not_found(slug: str, key: str = "") -> str:
    if key:
        return f"No task {key!r} in project {slug!r} (or no such project that you are a member of)."
    return f"No project {slug!r} that you are a member of."


def _task_rows(tasks: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (t["key"], t["status"], t["priority"], t.get("wave"), t["name"], ", ".join(t["depends_on"]))
        for t in tasks
    ]


@click.command("next")
@project_option
@json_option
@reported
def next_task(project: str | None, json_output: bool) -> None:
    """The next ready task: pending, every dependency done (exit code 3 when none is)."""
    slug = project_slug(project)
    task = person_api().json("GET", f"projects/{slug}/tasks/next/", not_found=_not_found(slug))
    if task is None:
        raise NothingReady(f"Nothing is ready in {slug}.")
    if json_output:
        print_json(task)
        return
    task_fields(task)


@click.command("list")
@project_option
@click.option(
    "--status", multiple=True, help=f"Only tasks of this status (repeatable): {STATUSES}."
)
@click.option("--feature", default="", metavar="KEY", help="Only tasks of this feature.")
@click.option("--ready", is_flag=True, help="Only ready tasks: pending, every dependency done.")
@click.option("--search", "-q", default="", help="Key or name contains this.")
@click.option("--page", default=1, type=click.IntRange(min=1), show_default=True)
@click.option("--page-size", default=100, type=click.IntRange(1, MAX_PAGE_SIZE), show_default=True)
@json_option
@reported
def list_tasks(
    project: str | None,
    status: tuple[str, ...],
    feature: str,
    ready: bool,
    search: str,
    page: int,
    page_size: int,
    json_output: bool,
) -> None:
    """List the project's tasks in plan order, a page at a time."""
    slug = project_slug(project)
    params: dict[str, Any] = {"page": page, "page_size": page_size}
    if status:
        params["status"] = list(status)
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


@click.command()
@click.argument("key")
@project_option
@json_option
@reported
def show(key: str, project: str | None, json_output: bool) -> None:
    """One task (its KEY, e.g. 01-02-T1), whole."""
    slug = project_slug(project)
    task = person_api().json(
        "GET", f"projects/{slug}/tasks/{key}/", not_found=_not_found(slug, key)
    )
    if json_output:
        print_json(task)
        return
    task_fields(task)


@click.command("set-status")
@click.argument("key")
@click.argument("status")
@project_option
@json_option
@reported
def set_status(key: str, status: str, project: str | None, json_output: bool) -> None:
    """Change the status of task KEY to STATUS: pending, in_progress, review, done,
    blocked, failed, cancelled or deferred. Its plan's statuses follow."""
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


@click.command("add-task")
@click.argument("key")
@click.argument("name")
@project_option
@click.option("--feature", default="", metavar="KEY", help="Its feature.")
@click.option(
    "--sub-feature", default="", metavar="KEY", help="Its sub-feature (sets the feature)."
)
@click.option("--description", default="", help="What to do.")
@click.option(
    "--priority",
    default="medium",
    show_default=True,
    type=click.Choice(["high", "medium", "low"]),
)
@click.option("--verify", default="", help="How to check it is done.")
@click.option("--file", "files", multiple=True, help="A file it touches (repeatable).")
@json_option
@reported
def add_task(
    key: str,
    name: str,
    project: str | None,
    feature: str,
    sub_feature: str,
    description: str,
    priority: str,
    verify: str,
    files: tuple[str, ...],
    json_output: bool,
) -> None:
    """Add a task with a KEY unique in the project and a one-line NAME to the plan."""
    slug = project_slug(project)
    body: dict[str, Any] = {"key": key, "name": name, "priority": priority}
    optional = {
        "feature": feature,
        "sub_feature": sub_feature,
        "description": description,
        "verify": verify,
        "files": list(files),
    }
    body.update({field: value for field, value in optional.items() if value})
    task = person_api().json(
        "POST", f"projects/{slug}/tasks/", body=body, not_found=_not_found(slug)
    )
    if json_output:
        print_json(task)
        return
    note(f"Added {task['key']} to {slug}.")


# Up to three model calls, each as long as the server's LLM timeout allows.
EXPAND_TIMEOUT_S = 600.0


@click.command()
@click.argument("key")
@project_option
@click.option(
    "--num",
    default=5,
    show_default=True,
    type=click.IntRange(1, 20),
    help="At most this many subtasks.",
)
@click.option(
    "--force", is_flag=True, help="Replace the task's subtasks (only while all are pending)."
)
@json_option
@reported
def expand(key: str, project: str | None, num: int, force: bool, json_output: bool) -> None:
    """Have the planning model split task KEY into subtasks (KEY.1, KEY.2, ...)."""
    slug = project_slug(project)
    answer = person_api().json(
        "POST",
        f"projects/{slug}/tasks/{key}/expand/",
        body={"num": num, "force": force},
        not_found=_not_found(slug, key),
        timeout_s=EXPAND_TIMEOUT_S,
    )
    if json_output:
        print_json(answer)
        return
    if answer["replaced"]:
        note(f"Replaced {', '.join(answer['replaced'])}.")
    table(
        TASK_COLUMNS,
        _task_rows(answer["subtasks"]),
        caption=f"{len(answer['subtasks'])} subtasks of {answer['task']['key']}",
    )
