"""A worktree's setup command, run exactly once.

The setup is logged like a code tool's call: a "setup" tool call's started row is
committed before the command runs, and its completion row (exit code, output tail) after.
So a worker that dies mid-setup leaves a started row without a completion, and the next
delivery of the run's preparation knows the setup was interrupted. It may have had some,
all or none of its effect (half an install), so it is never run again in that worktree:

- Setup finished, but the worker died before the worktree was recorded: the worktree is
  kept as it is and recorded; the setup is not run again.
- Setup interrupted: its call is completed as interrupted, and a decision is logged to
  run it again from a clean worktree (the half-set-up one is discarded and made afresh).
  That happens at most SETUP_RERUNS times; after that the run fails, saying so, and a
  person's retry of the task is the decision to try again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from agents.models import AgentRun, ToolCall
from agents.services import runs
from agents.services.logs import decision_record
from agents.services.run_logs import RunLogWriter
from agents.services.tool_calls import tool_call_complete, tool_call_start
from agents.workspaces.commands import CommandResult, command_environment, command_run, shell_argv
from agents.workspaces.paths import worktree_mounts
from core.errors import DomainError
from planning.models import Project

SETUP_TOOL = "setup"
# Interrupted setups rerun from a clean worktree before the run fails.
SETUP_RERUNS = 1
SETUP_TAIL_CHARS = 2000
INTERRUPTED = (
    "interrupted: the worker running the setup stopped before it finished, so it may have "
    "had some, all or none of its effect."
)

OutputCallback = Callable[[str, str], None]
CancelCallback = Callable[[], bool]


class SetupError(DomainError):
    """The setup command failed, or was interrupted too often; the message says why."""


@dataclass(frozen=True)
class SetupDone:
    """A setup that finished in a worktree nobody recorded (its worker died after it)."""

    path: Path
    branch: str
    base_commit: str


def setup_done_earlier(*, run: AgentRun, path: Path) -> SetupDone | None:
    """The run's setup that succeeded in the worktree at `path`, still there; None when
    there is none."""
    started = _last_setup(run)
    if started is None or started.input.get("worktree") != str(path) or not path.is_dir():
        return None
    completion = ToolCall.objects.filter(started=started).first()
    if completion is None or completion.status != ToolCall.Status.SUCCEEDED:
        return None
    return SetupDone(
        path=path,
        branch=str(started.input.get("branch", "")),
        base_commit=str(started.input.get("base_commit", "")),
    )


def setup_interruptions_settle(*, run: AgentRun, log: RunLogWriter) -> None:
    """Complete the run's setups that were started and never finished as interrupted,
    and log the decision to run the setup again from a clean worktree. Raises SetupError
    when setups were interrupted more than SETUP_RERUNS times."""
    setups = ToolCall.objects.filter(run=run, tool_name=SETUP_TOOL, started__isnull=True)
    open_calls = list(setups.filter(completion__isnull=True).order_by("pk"))
    if not open_calls:
        return
    for started in open_calls:
        tool_call_complete(started=started, status=ToolCall.Status.FAILED, error=INTERRUPTED)
    log.write("system", "# the setup command was interrupted: its worker stopped\n")
    interrupted = setups.filter(completion__error=INTERRUPTED).count()
    if interrupted > SETUP_RERUNS:
        raise SetupError(
            f"The setup command was interrupted {interrupted} times (its worker stopped); "
            "it is not run again by itself. Retry the task to run it once more."
        )
    decision_record(
        project=run.project,
        run=run,
        decision=f"Rerun the setup of run {run.pk} from a clean worktree: the worker "
        "running it stopped before it finished",
        reasoning={
            "action": "rerun_setup",
            "interrupted": [call.pk for call in open_calls],
            "command": open_calls[-1].input.get("command", ""),
            "why": "the interrupted setup may have had part of its effect; the worktree "
            "it ran in is discarded and made afresh before the setup runs again",
        },
    )
    log.write("system", "# rerunning the setup in a clean worktree (a logged decision)\n")


def setup_run(
    *, run: AgentRun, project: Project, path: Path, branch: str, base_commit: str, log: RunLogWriter
) -> None:
    """Run the project's setup command in the new worktree, logged as a tool call
    (started before, completed after), its output to the run's log. Raises SetupError
    when it fails, times out or is cancelled."""
    command = project.setup_command.strip()
    if not command:
        return
    started = tool_call_start(
        project=project,
        run=run,
        tool_name=SETUP_TOOL,
        call_id=f"setup-{_setups(run) + 1}",
        input={
            "command": command,
            "worktree": str(path),
            "branch": branch,
            "base_commit": base_commit,
        },
    )
    log.write("system", f"$ {command}  # setup\n")
    log.flush()  # the log shows the command before a long setup's output
    result = setup_command_run(
        command,
        cwd=path,
        allow_network=project.allow_network,
        on_output=log.write,
        should_cancel=runs.run_stopped_check(run_id=run.pk, on_tick=log.pump),
    )
    seconds = f"{result.duration_ms / 1000:.1f} s"
    tail = result.output_tail[-SETUP_TAIL_CHARS:].strip()
    output: dict[str, Any] = {"exit_code": result.exit_code, "tail": tail}
    if result.exit_code == 0:
        tool_call_complete(
            started=started,
            status=ToolCall.Status.SUCCEEDED,
            output=output,
            duration_ms=result.duration_ms,
        )
        log.write("system", f"# setup finished in {seconds}\n")
        return
    if result.timed_out:
        why = f"timed out after {settings.WORKSPACE_SETUP_TIMEOUT_S:g} s"
    elif result.cancelled:
        why = "was stopped: the run was cancelled"
    else:
        why = f"exited with {result.exit_code} after {seconds}"
    tool_call_complete(
        started=started,
        status=ToolCall.Status.FAILED,
        output=output,
        error=why,
        duration_ms=result.duration_ms,
    )
    log.write("system", f"# setup {why}\n")
    raise SetupError(
        f"The setup command `{command}` {why}."
        + (f" The end of its output:\n{tail}" if tail else "")
    )


def _last_setup(run: AgentRun) -> ToolCall | None:
    return (
        ToolCall.objects.filter(run=run, tool_name=SETUP_TOOL, started__isnull=True)
        .order_by("-pk")
        .first()
    )


def _setups(run: AgentRun) -> int:
    return ToolCall.objects.filter(run=run, tool_name=SETUP_TOOL, started__isnull=True).count()


def setup_command_run(
    command: str,
    *,
    cwd: Path,
    allow_network: bool,
    on_output: OutputCallback | None = None,
    should_cancel: CancelCallback | None = None,
) -> CommandResult:
    """Run a project's setup command in a new worktree, confined to it like every
    agent command (only the worktree is writable: not the user's .git)."""
    return command_run(
        shell_argv(command),
        cwd=cwd,
        timeout_s=settings.WORKSPACE_SETUP_TIMEOUT_S,
        allow_network=allow_network,
        # Its git link and its repository's config stay read-only: agent-written code
        # must not point Crewboard's own git commands elsewhere.
        writable=[cwd],
        read_only=worktree_mounts(cwd)[1],
        env=command_environment(),
        on_output=on_output,
        should_cancel=should_cancel,
        max_output_bytes=settings.AGENT_COMMAND_OUTPUT_BYTES,
    )
