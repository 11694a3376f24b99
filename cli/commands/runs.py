"""Starting, pausing and cancelling a project's agent work."""

from typing import Any

import typer

from cli.config import project_slug
from cli.errors import reported
from cli.options import Json, Project, person_api
from cli.output import note, print_json

run_app = typer.Typer(help="Start, pause or cancel the project's agent work.", no_args_is_help=True)


def _act(action: str, project: str | None, json_output: bool) -> None:
    slug = project_slug(project)
    answer: dict[str, Any] = person_api().json(
        "POST",
        f"projects/{slug}/run/",
        body={"action": action},
        not_found=f"No project {slug!r} that you are a member of.",
    )
    if json_output:
        print_json(answer)
        return
    started = f"; {len(answer['started'])} run(s) started" if answer["started"] else ""
    cancelled = f"; {answer['cancelled']} run(s) cancelled" if answer["cancelled"] else ""
    note(f"{slug} is {answer['status']}{started}{cancelled}.")


@run_app.command()
@reported
def start(project: Project = None, json_output: Json = False) -> None:
    """Start (or resume) the project: its agents take ready tasks."""
    _act("start", project, json_output)


@run_app.command()
@reported
def pause(project: Project = None, json_output: Json = False) -> None:
    """Pause the project: no new runs; running ones stop at their next step."""
    _act("pause", project, json_output)


@run_app.command()
@reported
def cancel(project: Project = None, json_output: Json = False) -> None:
    """Pause the project and cancel its active runs."""
    _act("cancel", project, json_output)
