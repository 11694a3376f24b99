"""An external agent's work loop: claim a task, then finish its run as done or failed."""

import json
from typing import Any

import click

from cli.config import project_slug
from cli.errors import NothingReady, UsageError, reported
from cli.options import agent_api, agent_key_option, json_option, project_option
from cli.output import note, print_json, task_fields

attempt_option = click.option(
    "--attempt",
    required=True,
    type=click.IntRange(min=1),
    help="The attempt number from the claim (a stale one is refused).",
)


def _not_found(slug: str) -> str:
    return f"No project {slug!r} for this agent key (a key works only in its own project)."


@click.command()
@project_option
@agent_key_option
@click.option(
    "--lease",
    default=300,
    show_default=True,
    type=click.IntRange(10, 86_400),
    help="Seconds the claim holds without a heartbeat.",
)
@json_option
@reported
def claim(project: str | None, agent_key: str, lease: int, json_output: bool) -> None:
    """Claim the next ready task for the agent (exit code 3 when none is ready)."""
    slug = project_slug(project)
    answer = agent_api(agent_key).json(
        "POST",
        f"projects/{slug}/tasks/claim/",
        body={"lease_seconds": lease},
        not_found=_not_found(slug),
    )
    if answer is None:
        raise NothingReady(f"Nothing is ready to claim in {slug}.")
    if json_output:
        print_json(answer)
        return
    run = answer["run"]
    task_fields(answer["task"])
    note(
        f"Claimed as run {run['id']}, attempt {run['attempt']}; the lease ends "
        f"{run.get('lease_expires_at')}. Finish with: crewboard done {run['id']} "
        f"--attempt {run['attempt']}"
    )


def _finished(answer: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(answer)
        return
    run, task = answer["run"], answer.get("task")
    on_task = f"; {task['key']} is {task['status']}" if task else ""
    note(f"Run {run['id']} {run['status']}{on_task}.")


@click.command()
@click.argument("run_id", type=int)
@attempt_option
@project_option
@agent_key_option
@click.option(
    "--result",
    default="{}",
    help='What came of it, a JSON object: \'{"commit": "3f2a9c1"}\'.',
)
@click.option(
    "--branch", default="", help="The branch holding the work; the task then waits for review."
)
@json_option
@reported
def done(
    run_id: int,
    attempt: int,
    project: str | None,
    agent_key: str,
    result: str,
    branch: str,
    json_output: bool,
) -> None:
    """Complete the agent's run RUN_ID: its task is done (or waits for review, with --branch)."""
    slug = project_slug(project)
    try:
        outcome = json.loads(result)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--result is not JSON: {exc}") from None
    if not isinstance(outcome, dict):
        raise UsageError("--result must be a JSON object.")
    body: dict[str, Any] = {"attempt": attempt, "result": outcome}
    if branch:
        body["branch"] = branch
    answer = agent_api(agent_key).json(
        "POST", f"projects/{slug}/runs/{run_id}/complete/", body=body, not_found=_not_found(slug)
    )
    _finished(answer, json_output)


@click.command()
@click.argument("run_id", type=int)
@attempt_option
@click.option("--error", required=True, help="What went wrong.")
@project_option
@agent_key_option
@json_option
@reported
def fail(
    run_id: int, attempt: int, error: str, project: str | None, agent_key: str, json_output: bool
) -> None:
    """Fail the agent's run RUN_ID: its task goes back to pending for another claim."""
    slug = project_slug(project)
    answer = agent_api(agent_key).json(
        "POST",
        f"projects/{slug}/runs/{run_id}/fail/",
        body={"attempt": attempt, "error": error},
        not_found=_not_found(slug),
    )
    _finished(answer, json_output)
