"""Starting, pausing and cancelling a project's agent work."""

from typing import Any

import click

from cli.config import project_slug
from cli.errors import reported
from cli.options import json_option, person_api, project_option
from cli.output import note, print_json


@click.group("run")
def run_group() -> None:
    """Start, pause or cancel the project's agent work."""


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


@run_group.command()
@project_option
@json_option
@reported
def start(project: str | None, json_output: bool) -> None:
    """Start (or resume) the project: its agents take ready tasks."""
    _act("start", project, json_output)


@run_group.command()
@project_option
@json_option
@reported
def pause(project: str | None, json_output: bool) -> None:
    """Pause the project: no new runs; running ones stop at their next step."""
    _act("pause", project, json_output)


@run_group.command()
@project_option
@json_option
@reported
def cancel(project: str | None, json_output: bool) -> None:
    """Pause the project and cancel its active runs."""
    _act("cancel", project, json_output)
