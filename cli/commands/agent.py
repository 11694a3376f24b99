"""An external agent's work loop: claim a task, then finish its run as done or failed."""

import json
from typing import Annotated, Any

import typer

from cli.config import project_slug
from cli.errors import NothingReady, UsageError, reported
from cli.options import AgentKey, Json, Project, agent_api
from cli.output import note, print_json, task_fields

RunId = Annotated[int, typer.Argument(help="The run's id, from the claim.")]
Attempt = Annotated[
    int, typer.Option(min=1, help="The attempt number from the claim (a stale one is refused).")
]


def _not_found(slug: str) -> str:
    return f"No project {slug!r} for this agent key (a key works only in its own project)."


@reported
def claim(
    project: Project = None,
    agent_key: AgentKey = "",
    lease: Annotated[
        int,
        typer.Option(help="Seconds the claim holds without a heartbeat (10 to 86,400)."),
    ] = 300,
    json_output: Json = False,
) -> None:
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


@reported
def done(
    run_id: RunId,
    attempt: Attempt,
    project: Project = None,
    agent_key: AgentKey = "",
    result: Annotated[
        str, typer.Option(help='What came of it, a JSON object: \'{"commit": "3f2a9c1"}\'.')
    ] = "{}",
    branch: Annotated[
        str,
        typer.Option(
            help="The branch holding the work; the task then waits for review.", show_default=False
        ),
    ] = "",
    json_output: Json = False,
) -> None:
    """Complete the agent's run: its task is done (or waits for review, with --branch)."""
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


@reported
def fail(
    run_id: RunId,
    attempt: Attempt,
    error: Annotated[str, typer.Option(help="What went wrong.")],
    project: Project = None,
    agent_key: AgentKey = "",
    json_output: Json = False,
) -> None:
    """Fail the agent's run: its task goes back to pending for another claim."""
    slug = project_slug(project)
    answer = agent_api(agent_key).json(
        "POST",
        f"projects/{slug}/runs/{run_id}/fail/",
        body={"attempt": attempt, "error": error},
        not_found=_not_found(slug),
    )
    _finished(answer, json_output)
