"""A coding attempt carried out by a coding CLI (Claude Code, Codex, ...) instead of the
built-in step loop.

The CLI runs in the run's worktree through the sandboxed command runner, in its own
process group, with the task's prompt. Its output streams into the run's log as it
comes; its events (messages, tool calls, token usage) go into the audit trail. Every
half second the runner asks whether the run is still running, so a cancel ends the CLI
and everything it started; the run's lease is renewed meanwhile, so the sweep does not
deliver the attempt again while it is alive. When the CLI exits, the run's owner takes
over: exit 0 ends the coding (`runs.run_work_done`, then the checks); anything else
fails the run with the reason and the end of the CLI's output.

A CLI's API keys come from the worker's environment (the profile names which), never
from Crewboard's own settings. It reports back through its output and, if it wants to,
through the API with a run key (`CREWBOARD_URL`, `CREWBOARD_RUN_KEY`): a key issued for
this delivery that reports on this run only, reads the plan, remembers facts and asks a
person, and stops working when the CLI exits or the run ends (`runs.run_key_issue`).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents.models import AgentRun
from agents.services import runs
from agents.services.executor_ingest import EventIngest
from agents.services.executor_prompt import executor_prompt, prompt_file_write
from agents.services.run_logs import RunLogWriter, run_log_append
from agents.workspaces import commands
from agents.workspaces.executors import (
    ExecutorProfile,
    Invocation,
    executor_check,
    executor_profile,
    executor_search_path,
    executor_state_dirs,
    tools_bin_dir,
)
from agents.workspaces.paths import worktree_mounts
from planning.models import Executor

TAIL_CHARS = 3000
# How often a live CLI renews its run's lease and its own claim on the run.
HEARTBEAT_S = 30.0
# A claim not renewed for this long belongs to a CLI that is gone (its worker died).
CLAIM_STALE_S = 3 * HEARTBEAT_S
CLAIM = "executor"


def _tail(text: str) -> str:
    text = text.strip()
    return text if len(text) <= TAIL_CHARS else "…" + text[-TAIL_CHARS:]


def _git_dir(worktree: Path) -> Path | None:
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--absolute-git-dir"],
            cwd=worktree,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(found.stdout.strip())


def _claim(run: AgentRun) -> str | None:
    """Mark the run as worked on by this delivery (inside the transaction that took it);
    None when another live delivery already is (a broker that redelivered a long task)."""
    held = run.result.get(CLAIM) or {}
    now = timezone.now().timestamp()
    if held.get("alive_at") and now - float(held["alive_at"]) < CLAIM_STALE_S:
        return None
    token = uuid.uuid4().hex
    runs.run_progress(run=run, lease=_lease(), **{CLAIM: {"token": token, "alive_at": now}})
    return token


def _lease() -> timedelta:
    return timedelta(seconds=settings.AGENT_LEASE_SECONDS)


def _fail(run: AgentRun, error: str) -> AgentRun:
    run_log_append(run_id=run.pk, stream="system", text=f"{error}\n")
    with transaction.atomic():
        if runs.run_still_running(run=run):
            runs.run_finish(run=run, succeeded=False, summary="", error=error)
    return run


def _shown(argv: list[str], prompt: str) -> str:
    """The command line for the log, with the prompt (long, and in the prompt file) elided."""
    return shlex.join("<prompt>" if part == prompt else part for part in argv)


def executor_attempt_execute(*, run_id: int) -> AgentRun | None:
    """Run the coding CLI of a run at its coding stage, then hand the run to its owner.

    Returns None when the run is not running at the coding stage (cancelled, finished,
    moved on) or another delivery's CLI is still at work on it. A CLI that is missing,
    cannot start, exits non-zero, times out (EXECUTOR_TIMEOUT_S) or prints none of the
    events its format promises fails the run with a message saying so.
    """
    with transaction.atomic():
        run = runs.run_take_stage(run_id=run_id, stage=AgentRun.Stage.CODING)
        token = _claim(run) if run is not None else None
        run_key = runs.run_key_issue(run=run) if run is not None and token else ""
    if run is None or token is None:
        return None
    agent = run.agent
    if agent.executor == Executor.BUILTIN:
        return _fail(run, f"Agent {agent.name} works through the built-in loop, not a CLI.")
    problem = executor_check(agent.executor, agent.executor_command)
    if problem:
        return _fail(run, f"{agent.get_executor_display()} cannot run: {problem}")
    worktree = Path(run.worktree_path)
    if not run.worktree_path or not worktree.is_dir():
        return _fail(run, f"The run's worktree {run.worktree_path or '(none)'} is missing.")
    profile = executor_profile(agent.executor)
    prompt = executor_prompt(run=run, api_url=settings.CREWBOARD_URL)
    prompt_file = prompt_file_write(worktree=worktree, git_dir=_git_dir(worktree), text=prompt)
    try:
        confined = commands.sandbox_available()
    except commands.SandboxError as exc:
        return _fail(run, str(exc))
    invocation = Invocation(
        prompt=prompt,
        prompt_file=prompt_file,
        worktree=worktree,
        model=agent.model,
        confined=confined,
        allow_network=run.project.allow_network,
        command=list(agent.executor_command or []),
    )
    try:
        return _execute(run, profile, invocation, token, run_key)
    finally:
        # Once the CLI has exited its key has no use: it must not outlive the CLI.
        runs.run_key_revoke(run=run, key=run_key)


def _environment(
    run: AgentRun, profile: ExecutorProfile, invocation: Invocation, run_key: str
) -> dict[str, str]:
    env = {name: os.environ[name] for name in profile.env_passthrough if name in os.environ}
    env["PATH"] = executor_search_path()
    env["CREWBOARD_URL"] = settings.CREWBOARD_URL
    env["CREWBOARD_PROJECT"] = run.project.slug
    env["CREWBOARD_RUN_KEY"] = run_key
    env["CREWBOARD_RUN_ID"] = str(run.pk)
    env["CREWBOARD_TASK"] = run.task.key if run.task else ""
    env["CREWBOARD_WORKTREE"] = str(invocation.worktree)
    env["CREWBOARD_PROMPT_FILE"] = str(invocation.prompt_file)
    if invocation.confined:
        env.update(profile.env)
    return env


def _execute(
    run: AgentRun, profile: ExecutorProfile, invocation: Invocation, token: str, run_key: str
) -> AgentRun | None:
    argv = profile.argv(invocation)
    writable, read_only = worktree_mounts(invocation.worktree)
    writable += executor_state_dirs(profile)
    # make tools' CLIs stay visible even where the sandbox hides their folder (/tmp).
    tools = tools_bin_dir().parent.parent
    if tools.is_dir():
        read_only.append(tools)
    started = time.monotonic()
    next_beat = started + HEARTBEAT_S
    ended_elsewhere = False

    def should_cancel() -> bool:
        nonlocal next_beat, ended_elsewhere
        current = AgentRun.objects.filter(pk=run.pk).values_list("status", "stage").first()
        if current != (AgentRun.Status.RUNNING, AgentRun.Stage.CODING):
            ended_elsewhere = True
            return True
        if time.monotonic() >= next_beat:
            next_beat = time.monotonic() + HEARTBEAT_S
            claim = {"token": token, "alive_at": timezone.now().timestamp()}
            runs.run_progress(run=run, lease=_lease(), **{CLAIM: claim})
        return False

    with RunLogWriter(run.pk) as log:
        ingest = EventIngest(
            run=run, provider=profile.executor, format=profile.stream_format, log=log
        )
        log.write("system", f"$ {_shown(argv, invocation.prompt)}\n")

        def on_output(stream: str, text: str) -> None:
            if stream == "stdout":  # to the log, and its events to the audit trail
                ingest.feed(text, elapsed_ms=(time.monotonic() - started) * 1000)
            else:
                log.write(stream, text)

        try:
            result: commands.CommandResult | None = commands.command_run(
                argv,
                cwd=invocation.worktree,
                # The CLI talks to its model; the project's network setting governs the
                # commands it runs, where the CLI has a sandbox of its own (Codex).
                allow_network=True,
                timeout_s=settings.EXECUTOR_TIMEOUT_S,
                writable=writable,
                read_only=read_only,
                env=_environment(run, profile, invocation, run_key),
                on_output=on_output,
                should_cancel=should_cancel,
            )
        except commands.SandboxError as exc:
            result = None
            log.write("system", f"{exc}\n")
        finally:
            ingest.close(elapsed_ms=(time.monotonic() - started) * 1000)
        if result is not None:
            log.write("system", f"{_outcome_line(result)}\n")
    if result is None:
        return _fail(run, "The coding CLI cannot run: AGENT_SANDBOX=bwrap, but bwrap is unusable.")
    if ended_elsewhere or result.cancelled:
        return None  # cancelled (or moved on) by someone else: its owner already settled it
    program = profile.program or invocation.command[0]
    return _hand_over(run, program, profile.stream_format, result, ingest)


def _outcome_line(result: commands.CommandResult) -> str:
    seconds = result.duration_ms / 1000
    if result.timed_out:
        return f"stopped after {seconds:.0f} s (EXECUTOR_TIMEOUT_S)"
    if result.cancelled:
        return f"stopped after {seconds:.1f} s: the run was cancelled"
    return f"exited with code {result.exit_code} after {seconds:.1f} s"


def _hand_over(
    run: AgentRun, program: str, format: str, result: commands.CommandResult, ingest: EventIngest
) -> AgentRun:
    tail = _tail(result.output_tail)
    error = ""
    if result.timed_out:
        error = f"`{program}` did not finish within {settings.EXECUTOR_TIMEOUT_S:.0f} s"
    elif result.exit_code != 0:
        error = f"`{program}` exited with code {result.exit_code}"
    elif ingest.failed_outcome is not None:
        error = f"`{program}` reported an error: {ingest.failed_outcome}"
    elif ingest.expects_events and ingest.events == 0:
        error = f"`{program}` printed none of the {format} events expected of it"
    with transaction.atomic():
        if not runs.run_still_running(run=run):
            return run
        # The attempt is over: a later one (after failed checks) may claim the run.
        runs.run_progress(run=run, lease=_lease(), **{CLAIM: None})
        if error:
            return runs.run_finish(
                run=run,
                succeeded=False,
                summary="",
                error=f"{error}. The end of its output:\n{tail}" if tail else error,
            )
        summary = ingest.summary or tail[-500:] or f"`{program}` finished"
        return runs.run_work_done(run=run, summary=summary)
