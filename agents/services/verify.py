"""The tester's stage of a coding run: run the task's checks in its worktree.

The checks are the task's own `verify`, when it holds a command, then the project's
verify command. Each runs confined to the worktree, like the agents' own commands; its
exit code, duration and the tail of its output are logged as a `verify` tool call and a
metric, and its output streams into the run's log. The first failure ends the checks.
The outcome goes to the run's owner (`runs.run_verified`), which decides what follows.

Checks are safe to run again, so a redelivered verification simply runs them again.
"""

from __future__ import annotations

import re
import shlex
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from agents.models import AgentRun, Metric, ToolCall
from agents.services import runs
from agents.services.logs import metric_record
from agents.services.run_logs import RunLogWriter
from agents.services.tool_calls import tool_call_complete, tool_call_start
from agents.workspaces.commands import command_environment, command_run, shell_argv
from agents.workspaces.paths import worktree_mounts
from core import git
from core.db import commit_without_flush_wait
from planning.models import Project, Task

VERIFY_TOOL = "verify"
# How much of a failing check's output the agent is shown.
REPORT_CHARS = 6000

_FENCED = re.compile(r"```[a-zA-Z0-9_-]*\n(.*?)```", re.DOTALL)
_INLINE = re.compile(r"`([^`\n]+)`")


@dataclass(frozen=True)
class Check:
    command: str
    source: str  # "task" or "project"


def commands_in(text: str, *, cwd: Path) -> list[str]:
    """The commands a task's `verify` holds: a fenced block's lines, else the backticked
    spans that start with a program (on PATH or in the worktree), else the whole text
    when it is one line that does. Prose names no command."""
    text = text.strip()
    if not text:
        return []
    fenced = [
        line.strip()
        for block in _FENCED.findall(text)
        for line in block.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    if fenced:
        return fenced
    spans = [span.strip() for span in _INLINE.findall(text)]
    runnable = [span for span in spans if _starts_with_program(span, cwd)]
    if runnable:
        return runnable
    if "\n" not in text and not spans and _starts_with_program(text, cwd):
        return [text]
    return []


def _starts_with_program(command: str, cwd: Path) -> bool:
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    if not words:
        return False
    program = words[0]
    if "/" in program:
        return (cwd / program).is_file()
    return shutil.which(program) is not None


def checks_for(*, task: Task, project: Project, worktree: Path) -> list[Check]:
    checks = [Check(command, "task") for command in commands_in(task.verify, cwd=worktree)]
    if project.verify_command.strip():
        checks.append(Check(project.verify_command.strip(), "project"))
    return checks


def verify_run_execute(*, run_id: int) -> AgentRun | None:
    """Run a verifying run's checks and hand the outcome to the run's owner. Returns
    None when the run is not verifying (cancelled, or verified by another delivery)."""
    # Every commit here may skip the wait for the disk: what a database crash loses, a
    # new delivery of the verification (the stale-run sweep's) does again.
    with transaction.atomic(durable=True):
        commit_without_flush_wait()
        run = runs.run_take_stage(run_id=run_id, stage=AgentRun.Stage.VERIFYING)
    if run is None or run.task is None:
        return None
    worktree = Path(run.worktree_path)
    checks = checks_for(task=run.task, project=run.project, worktree=worktree)
    report = "No command to run: the task's checks are for the reviewer to judge."
    passed = True
    log = RunLogWriter(run.pk)
    _commit_leftovers(run, worktree, log)
    for check in checks:
        passed, report = _run_check(run, check, worktree, log)
        if not passed:
            break
    with transaction.atomic(durable=True):
        commit_without_flush_wait()
        log.close()
        return runs.run_verified(run_id=run.pk, passed=passed, report=report)


def _commit_leftovers(run: AgentRun, worktree: Path, log: RunLogWriter) -> None:
    """What the agent left uncommitted joins its branch before the checks, so the branch
    holds exactly what was verified, and what is reviewed and merged."""
    assert run.task is not None
    try:
        commit = git.worktree_commit_all(
            worktree, message=f"{run.task.key}: work left uncommitted by {run.agent.name}"
        )
    except git.GitError as exc:
        log.write("system", f"# could not commit the work left uncommitted: {exc}\n")
        return
    if commit:
        log.write("system", f"# committed the work left uncommitted as {commit[:12]}\n")


def _run_check(run: AgentRun, check: Check, worktree: Path, log: RunLogWriter) -> tuple[bool, str]:
    assert run.task is not None
    log.write("system", f"$ {check.command}  # {check.source} check\n")
    with transaction.atomic(durable=True):
        commit_without_flush_wait()
        started = tool_call_start(
            project=run.project,
            run=run,
            tool_name=VERIFY_TOOL,
            call_id=f"verify-{uuid.uuid4().hex[:12]}",
            input={"command": check.command, "source": check.source, "role": "tester"},
        )

    result = command_run(
        shell_argv(check.command),
        cwd=worktree,
        timeout_s=settings.VERIFY_TIMEOUT_S,
        allow_network=run.project.allow_network,
        # Its git link stays read-only: the code checked must not point Crewboard's own git
        # commands at a repository of its making.
        writable=[worktree],
        read_only=worktree_mounts(worktree)[1],
        env=command_environment(),
        on_output=log.write,
        # A check may outlast the run's lease: it is renewed as the check goes on.
        should_cancel=runs.run_stopped_check(run_id=run.pk, on_tick=log.pump),
        max_output_bytes=settings.AGENT_COMMAND_OUTPUT_BYTES,
    )
    passed = result.exit_code == 0
    if result.timed_out:
        why = f"timed out after {settings.VERIFY_TIMEOUT_S:g} s"
    elif result.cancelled:
        why = "was stopped: the run was cancelled"
    else:
        why = f"exited with {result.exit_code}"
    output = {
        "command": check.command,
        "source": check.source,
        "exit_code": result.exit_code,
        "timed_out": result.timed_out,
        "duration_ms": result.duration_ms,
        "output_tail": result.output_tail[-REPORT_CHARS:],
        "confined": result.confined,
    }
    # The call's completion, its metric and the log so far, in one commit.
    with transaction.atomic(durable=True):
        commit_without_flush_wait()
        tool_call_complete(
            started=started,
            status=ToolCall.Status.SUCCEEDED if passed else ToolCall.Status.FAILED,
            output=output,
            error="" if passed else f"{check.command} {why}",
            duration_ms=result.duration_ms,
        )
        metric_record(
            project=run.project,
            run=run,
            type=Metric.Type.VERIFY_DURATION,
            value=result.duration_ms / 1000,
            metadata={"unit": "s", "source": check.source, "exit_code": result.exit_code},
        )
        log.write("system", f"# {check.source} check {'passed' if passed else why}\n")
        log.flush()
    report = (
        f"The {check.source} check `{check.command}` {why}. The end of its output:\n\n"
        f"{result.output_tail[-REPORT_CHARS:]}"
    )
    return passed, report
