"""The coding tools: read, write and edit files and run commands, inside the run's git
worktree (agents.tools.git has those that list, search, diff and commit).

Reads are medium risk and the rest high, so a project turns them on by name in
`Project.enabled_tools`. Paths are confined by agents.workspaces.paths; commands, git
included, run through agents.workspaces.commands (sandboxed where bubblewrap is), so a
config or attribute the agent planted in its worktree runs nothing outside the sandbox.
"""

from __future__ import annotations

import contextlib
import shlex
from pathlib import Path
from typing import Any

from django.conf import settings

from agents.services import runs
from agents.services.run_logs import RunLogWriter
from agents.tools import ToolContext, ToolError, tool
from agents.workspaces.commands import command_run
from agents.workspaces.paths import (
    PathError,
    read_text,
    worktree_file,
    worktree_mounts,
    write_text,
)

READ_MAX_LINES = 2000
# What one tool result may put into the model's context.
OUTPUT_CHARS = 30_000
PATH = {"type": "string", "minLength": 1, "maxLength": 1000}


def worktree_of(context: ToolContext) -> Path:
    """The run's worktree. Raises ToolError when it has none, it is gone, or it is the
    project's own checkout (which agents never change)."""
    path = context.run.worktree_path if context.run is not None else ""
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


def confined_path(worktree: Path, relative: str, *, allow_root: bool = False) -> Path:
    try:
        return worktree_file(worktree, relative, allow_root=allow_root)
    except PathError as exc:
        raise ToolError(str(exc)) from None


def _read(worktree: Path, relative: str) -> tuple[Path, str]:
    path = confined_path(worktree, relative)
    try:
        return path, read_text(path, name=relative)
    except PathError as exc:
        raise ToolError(str(exc)) from None


def _write(path: Path, text: str, name: str) -> bool:
    try:
        return write_text(path, text, name=name)
    except PathError as exc:
        raise ToolError(str(exc)) from None


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
    path = confined_path(worktree_of(context), args["path"])
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
    cwd = confined_path(worktree, args.get("cwd", "."), allow_root=True)
    if not cwd.is_dir():
        raise ToolError(f"cwd {args['cwd']} is not a folder of the worktree")
    limit = settings.AGENT_COMMAND_TIMEOUT_S
    writable, read_only = worktree_mounts(worktree)
    # The output streams into the run's log as it comes, for the run page.
    with RunLogWriter(context.run.pk) if context.run else contextlib.nullcontext() as log:
        if log is not None:
            log.write("system", f"$ {shlex.join(args['argv'])}\n")
        result = command_run(
            args["argv"],
            cwd=cwd,
            timeout_s=min(args.get("timeout_s", limit), limit),
            allow_network=context.project.allow_network,
            writable=writable,
            read_only=read_only,
            on_output=log.write if log is not None else None,
            should_cancel=(runs.run_stopped_check(run_id=context.run.pk) if context.run else None),
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
