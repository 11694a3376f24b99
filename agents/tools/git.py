"""The coding tools that ask git: list and search the worktree's files, show its
changes and commit them. Git runs sandboxed like the agent's own commands (see
agents.tools.code), with no hooks, pager or prompts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents.models import Workspace
from agents.tools import ToolContext, ToolError, tool
from agents.tools.code import OUTPUT_CHARS, PATH, confined_path, worktree_of
from agents.workspaces.commands import CommandResult, command_run
from agents.workspaces.paths import relative_name, worktree_mounts

AGENT_NAME = "Crewboard agent"
AGENT_EMAIL = "agent@crewboard.invalid"
GIT_TIMEOUT_S = 120
DIFF_CHARS = 100_000
# Git runs no pager, asks no questions, and skips the index refresh a read would write.
GIT_ENV = {"GIT_PAGER": "cat", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}


def _folder(worktree: Path, args: dict[str, Any]) -> str:
    """The folder the model asked about, as git pathspec (the whole worktree by default)."""
    return relative_name(worktree, confined_path(worktree, args.get("path", "."), allow_root=True))


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
    folder = _folder(worktree, args)
    limit = args.get("limit", 1000)
    head = _Head(limit, OUTPUT_CHARS)
    command = ["ls-files", "--cached", "--others", "--exclude-standard", "--deduplicate"]
    _git(worktree, [*command, "--", folder], head=head)
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
    folder = _folder(worktree, args)
    command = ["grep", "--untracked", "-I", "-n", "-z", "--no-color"]
    command.append("-F" if args.get("fixed_string") else "-E")
    if args.get("ignore_case"):
        command.append("-i")
    head = _Head(args.get("limit", 100), OUTPUT_CHARS)
    # Exit status 1: no match.
    _git(worktree, [*command, "-e", args["pattern"], "--", folder], head=head, ok=(0, 1))
    matches = []
    for record in head.finish():
        parts = record.split("\x00", 2)
        if len(parts) == 3:
            matches.append({"path": parts[0], "line": int(parts[1]), "text": parts[2][:500]})
    return {"matches": matches, "truncated": head.full}


def _base_commit(context: ToolContext, worktree: Path) -> str:
    """The commit the worktree was made from, else where it forked from the base branch."""
    if context.run is not None:
        recorded = Workspace.objects.filter(run=context.run).values_list("base_commit", flat=True)
        if commit := recorded.first():
            return commit
    branch = context.project.base_branch or "main"
    return _git(worktree, ["merge-base", "HEAD", branch]).output_tail.strip()


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
    stat = _git(worktree, ["diff", "--stat", since]).output_tail
    head = _Head(1_000_000, DIFF_CHARS)
    _git(worktree, ["diff", "--no-ext-diff", "--no-textconv", since], head=head)
    new = _Head(1000, OUTPUT_CHARS)
    _git(worktree, ["ls-files", "--others", "--exclude-standard"], head=new)
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
    _git(worktree, ["add", "--all"])
    # Exit status 1: something is staged.
    if _git(worktree, ["diff", "--cached", "--quiet"], ok=(0, 1)).exit_code == 0:
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
    _git(worktree, ["commit", "--no-verify", "--quiet", "-m", message], env=identity)
    summary = _git(worktree, ["log", "-1", "--format=%H%x00%D", "--shortstat"])
    first, _, stat = summary.output_tail.strip().partition("\n")
    commit, _, refs = first.partition("\x00")
    branch = refs.removeprefix("HEAD -> ").split(",")[0].strip()
    return {"commit": commit, "branch": branch, "summary": stat.strip()}
