"""The coding tools: read, write and edit files, list and search them, run commands,
and see and commit the changes, all inside the run's git worktree.

Reads are medium risk and the rest high, so a project turns them on by name in
`Project.enabled_tools`. Paths are confined by agents.workspaces.paths; commands, git
included, run through agents.workspaces.commands (sandboxed where bubblewrap is), so a
config or attribute the agent planted in its worktree runs nothing outside the sandbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings

from agents.models import AgentRun
from agents.tools import ToolContext, ToolError, tool
from agents.workspaces.commands import CommandResult, command_run
from agents.workspaces.paths import (
    PathError,
    read_text,
    relative_name,
    worktree_file,
    worktree_mounts,
    write_text,
)

AGENT_NAME = "Crewboard agent"
AGENT_EMAIL = "agent@crewboard.invalid"
GIT_TIMEOUT_S = 120
READ_MAX_LINES = 2000
# What one tool result may put into the model's context.
OUTPUT_CHARS = 30_000
DIFF_CHARS = 100_000
DEFAULT_TIMEOUT_S = 600
PATH = {"type": "string", "minLength": 1, "maxLength": 1000}
# Git runs no pager, asks no questions, and skips the index refresh a read would write.
GIT_ENV = {"GIT_PAGER": "cat", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}


def worktree_of(context: ToolContext) -> Path:
    """The run's worktree. Raises ToolError when it has none, it is gone, or it is the
    project's own checkout (which agents never change)."""
    path = getattr(context.run, "worktree_path", "") if context.run is not None else ""
    if not path:
        raise ToolError("this run has no worktree")
    worktree = Path(path)
    if not worktree.is_dir():
        raise ToolError(f"this run's worktree {path} no longer exists")
    root = context.project.root_path
    if root and Path(root).resolve() == worktree.resolve():
        raise ToolError(
            "this run's worktree is the project's own checkout, which agents leave alone"
        )
    return worktree


def _file(worktree: Path, relative: str, *, allow_root: bool = False) -> Path:
    try:
        return worktree_file(worktree, relative, allow_root=allow_root)
    except PathError as exc:
        raise ToolError(str(exc)) from None


def _read(worktree: Path, relative: str) -> tuple[Path, str]:
    path = _file(worktree, relative)
    try:
        return path, read_text(path, name=relative)
    except PathError as exc:
        raise ToolError(str(exc)) from None


def _write(path: Path, text: str, name: str) -> bool:
    try:
        return write_text(path, text, name=name)
    except PathError as exc:
        raise ToolError(str(exc)) from None


class _Head:
    """Keeps the first lines and characters of a stream, then asks the command to stop."""

    def __init__(self, max_lines: int, max_chars: int) -> None:
        self.max_lines, self.max_chars = max_lines, max_chars
        self.lines: list[str] = []
        self.partial = ""
        self.chars = 0
        self.full = False

    def feed(self, stream: str, text: str) -> None:
        if stream != "stdout" or self.full:
            return
        *complete, self.partial = (self.partial + text).split("\n")
        for line in complete:
            if len(self.lines) >= self.max_lines or self.chars + len(line) > self.max_chars:
                self.full = True
                return
            self.lines.append(line)
            self.chars += len(line) + 1

    def finish(self) -> list[str]:
        if self.partial and not self.full:
            self.lines.append(self.partial)
        return self.lines


def _git(
    context: ToolContext,
    worktree: Path,
    args: Sequence[str],
    *,
    head: _Head | None = None,
    env: dict[str, str] | None = None,
    ok: Sequence[int] = (0,),
) -> CommandResult:
    """Run git in the worktree, sandboxed like the agent's own commands. Raises ToolError
    when git fails."""
    writable, read_only = worktree_mounts(worktree)
    result = command_run(
        # No hooks: not the agent's (it cannot write them) nor the user's.
        ["git", "-c", "core.quotePath=false", "-c", "core.hooksPath=/dev/null", *args],
        cwd=worktree,
        timeout_s=GIT_TIMEOUT_S,
        allow_network=False,
        writable=writable,
        read_only=read_only,
        env={**GIT_ENV, **(env or {})},
        on_output=head.feed if head is not None else None,
        should_cancel=(lambda: head.full) if head is not None else None,
        max_output_bytes=OUTPUT_CHARS,
    )
    if result.timed_out:
        raise ToolError(f"git {args[0]} took longer than {GIT_TIMEOUT_S} s and was stopped")
    if not result.cancelled and result.exit_code not in ok:
        raise ToolError(f"git {args[0]} failed ({result.exit_code}): {result.output_tail[-2000:]}")
    return result


@tool(
    name="read_file",
    description=(
        "Read a text file of the worktree, whole or lines start_line..end_line (1-based, "
        f"inclusive; at most {READ_MAX_LINES} lines at a time)."
    ),
    parameters={
        "type": "object",
        "properties": {
            "path": PATH,
            "start_line": {"type": "integer", "minimum": 1},
            "end_line": {"type": "integer", "minimum": 1},
        },
        "required": ["path"],
        "additionalProperties": False,
    },
    risk="medium",
)
def read_file(context: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    _, text = _read(worktree_of(context), args["path"])
    lines = text.splitlines(keepends=True)
    start = args.get("start_line", 1)
    end = args.get("end_line", start + READ_MAX_LINES - 1)
    if end < start:
        raise ToolError(f"end_line {end} is before start_line {start}")
    if lines and start > len(lines):
        raise ToolError(
            f"start_line {start} is past the end: {args['path']} has {len(lines)} lines"
        )
    last = min(end, len(lines), start + READ_MAX_LINES - 1)
    return {
        "path": args["path"],
        "start_line": start,
        "end_line": last,
        "total_lines": len(lines),
        "truncated": last < min(end, len(lines)),
        "content": "".join(lines[start - 1 : last]),
    }


@tool(
    name="write_file",
    description="Create or overwrite a text file of the worktree with the given content.",
    parameters={
        "type": "object",
        "properties": {"path": PATH, "content": {"type": "string"}},
        "required": ["path", "content"],
        "additionalProperties": False,
    },
    risk="high",
)
def write_file(context: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    path = _file(worktree_of(context), args["path"])
    created = _write(path, args["content"], args["path"])
    return {"path": args["path"], "created": created, "bytes": len(args["content"].encode())}


@tool(
    name="edit_file",
    description=(
        "Replace one exact piece of text in a file. old_text must occur exactly once: "
        "include enough surrounding lines to make it unique."
    ),
    parameters={
        "type": "object",
        "properties": {
            "path": PATH,
            "old_text": {"type": "string", "minLength": 1},
            "new_text": {"type": "string"},
        },
        "required": ["path", "old_text", "new_text"],
        "additionalProperties": False,
    },
    risk="high",
)
def edit_file(context: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    name, old = args["path"], args["old_text"]
    path, text = _read(worktree_of(context), name)
    count = text.count(old)
    if count == 0:
        raise ToolError(f"old_text was not found in {name}; read the file and copy it exactly")
    if count > 1:
        raise ToolError(
            f"old_text occurs {count} times in {name}; include more surrounding lines so "
            "it matches exactly once"
        )
    _write(path, text.replace(old, args["new_text"], 1), name)
    line = text[: text.index(old)].count("\n") + 1
    return {"path": name, "replaced_at_line": line}


@tool(
    name="list_files",
    description=(
        "List the worktree's files (tracked and new, without those .gitignore excludes), "
        "optionally under a folder."
    ),
    parameters={
        "type": "object",
        "properties": {
            "path": PATH,
            "limit": {"type": "integer", "minimum": 1, "maximum": 5000},
        },
        "additionalProperties": False,
    },
    risk="medium",
)
def list_files(context: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    worktree = worktree_of(context)
    folder = relative_name(worktree, _file(worktree, args.get("path", "."), allow_root=True))
    limit = args.get("limit", 1000)
    head = _Head(limit, OUTPUT_CHARS)
    command = ["ls-files", "--cached", "--others", "--exclude-standard", "--deduplicate"]
    _git(context, worktree, [*command, "--", folder], head=head)
    files = [name for name in head.finish() if name]
    return {"files": files, "truncated": head.full}


@tool(
    name="search_code",
    description=(
        "Search the worktree's text files (tracked and new, not ignored) with git grep: "
        "a regular expression (POSIX extended) or, with fixed_string, plain text."
    ),
    parameters={
        "type": "object",
        "properties": {
            "pattern": {"type": "string", "minLength": 1, "maxLength": 1000},
            "path": PATH,
            "fixed_string": {"type": "boolean"},
            "ignore_case": {"type": "boolean"},
            "limit": {"type": "integer", "minimum": 1, "maximum": 500},
        },
        "required": ["pattern"],
        "additionalProperties": False,
    },
    risk="medium",
)
def search_code(context: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    worktree = worktree_of(context)
    folder = relative_name(worktree, _file(worktree, args.get("path", "."), allow_root=True))
    command = ["grep", "--untracked", "-I", "-n", "-z", "--no-color"]
    command.append("-F" if args.get("fixed_string") else "-E")
    if args.get("ignore_case"):
        command.append("-i")
    head = _Head(args.get("limit", 100), OUTPUT_CHARS)
    # Exit status 1: no match.
    _git(context, worktree, [*command, "-e", args["pattern"], "--", folder], head=head, ok=(0, 1))
    matches = []
    for record in head.finish():
        parts = record.split("\x00", 2)
        if len(parts) == 3:
            matches.append({"path": parts[0], "line": int(parts[1]), "text": parts[2][:500]})
    return {"matches": matches, "truncated": head.full}


def _cancelled(run: AgentRun | None) -> bool:
    if run is None:
        return False
    return AgentRun.objects.filter(pk=run.pk, status=AgentRun.Status.CANCELLED).exists()


@tool(
    name="run_command",
    description=(
        "Run a program in the worktree (argv list, no shell; use ['sh', '-c', '...'] for "
        "one) and get its exit code and the end of its output. Network access depends on "
        "the project's settings."
    ),
    parameters={
        "type": "object",
        "properties": {
            "argv": {
                "type": "array",
                "items": {"type": "string", "maxLength": 10_000},
                "minItems": 1,
                "maxItems": 500,
            },
            "cwd": PATH,
            "timeout_s": {"type": "integer", "minimum": 1},
        },
        "required": ["argv"],
        "additionalProperties": False,
    },
    risk="high",
)
def run_command(context: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    worktree = worktree_of(context)
    cwd = _file(worktree, args.get("cwd", "."), allow_root=True)
    if not cwd.is_dir():
        raise ToolError(f"cwd {args['cwd']} is not a folder of the worktree")
    limit = int(getattr(settings, "AGENT_COMMAND_TIMEOUT_S", DEFAULT_TIMEOUT_S))
    writable, read_only = worktree_mounts(worktree)
    result = command_run(
        args["argv"],
        cwd=cwd,
        timeout_s=min(args.get("timeout_s", limit), limit),
        allow_network=bool(getattr(context.project, "allow_network", False)),
        writable=writable,
        read_only=read_only,
        should_cancel=lambda: _cancelled(context.run),
        max_output_bytes=OUTPUT_CHARS,
    )
    return {
        "exit_code": result.exit_code,
        "timed_out": result.timed_out,
        "cancelled": result.cancelled,
        "duration_ms": result.duration_ms,
        "output": result.output_tail,
        "output_bytes": result.output_bytes,
        "truncated": result.truncated,
        "sandboxed": result.confined,
    }


def _base_commit(context: ToolContext, worktree: Path) -> str:
    branch = context.project.base_branch or "main"
    result = _git(context, worktree, ["merge-base", "HEAD", branch])
    return result.output_tail.strip()


@tool(
    name="git_diff",
    description=(
        "Show the changes made in the worktree: against 'base' (default), everything since "
        "the base branch, committed or not; against 'working_tree', what is not committed yet."
    ),
    parameters={
        "type": "object",
        "properties": {"against": {"type": "string", "enum": ["base", "working_tree"]}},
        "additionalProperties": False,
    },
    risk="medium",
)
def git_diff(context: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    worktree = worktree_of(context)
    against = args.get("against", "base")
    since = _base_commit(context, worktree) if against == "base" else "HEAD"
    stat = _git(context, worktree, ["diff", "--stat", since]).output_tail
    head = _Head(1_000_000, DIFF_CHARS)
    _git(context, worktree, ["diff", "--no-ext-diff", "--no-textconv", since], head=head)
    new = _Head(1000, OUTPUT_CHARS)
    _git(context, worktree, ["ls-files", "--others", "--exclude-standard"], head=new)
    return {
        "against": against,
        "since": since,
        "stat": stat[-OUTPUT_CHARS:],
        "diff": "\n".join(head.finish()),
        "truncated": head.full,
        "untracked": [name for name in new.finish() if name],
    }


@tool(
    name="git_commit",
    description="Stage every change in the worktree (except ignored files) and commit it.",
    parameters={
        "type": "object",
        "properties": {"message": {"type": "string", "minLength": 1, "maxLength": 5000}},
        "required": ["message"],
        "additionalProperties": False,
    },
    risk="high",
)
def git_commit(context: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    worktree = worktree_of(context)
    _git(context, worktree, ["add", "--all"])
    # Exit status 1: something is staged.
    if _git(context, worktree, ["diff", "--cached", "--quiet"], ok=(0, 1)).exit_code == 0:
        raise ToolError("nothing to commit: the worktree has no changes")
    name = context.agent.name if context.agent is not None else AGENT_NAME
    identity = {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": AGENT_EMAIL,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": AGENT_EMAIL,
    }
    # --no-verify: the project's verify command judges the work, not the user's hooks.
    message = args["message"].strip() or "Agent changes"
    _git(context, worktree, ["commit", "--no-verify", "--quiet", "-m", message], env=identity)
    summary = _git(context, worktree, ["log", "-1", "--format=%H%x00%D", "--shortstat"])
    first, _, stat = summary.output_tail.strip().partition("\n")
    commit, _, refs = first.partition("\x00")
    branch = refs.removeprefix("HEAD -> ").split(",")[0].strip()
    return {"commit": commit, "branch": branch, "summary": stat.strip()}
