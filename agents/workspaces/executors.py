"""The coding CLIs an agent can work through, and how each is started.

A profile says which program to run, the argv that hands it a task in a worktree without
asking anyone anything, what its output looks like (`streams.FORMATS`), which of the
worker's environment variables it needs (its own API keys, which the command runner
otherwise withholds), and where it keeps its state (writable inside the sandbox).

When the command runner confines the CLI (bubblewrap), the CLI's own sandbox is turned
off: it cannot nest inside ours, and ours already limits it to the worktree. Without
ours, the CLI's own sandbox or permission mode is used where it has one.

CLIs installed by `make tools` (under var/tools/) are found before those on PATH.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from planning.models import Executor

PLACEHOLDERS = ("{prompt_file}", "{worktree}")


@dataclass(frozen=True)
class Invocation:
    """What one attempt gives its CLI."""

    prompt: str
    prompt_file: Path
    worktree: Path
    model: str = ""
    confined: bool = False  # inside Crewboard's sandbox
    allow_network: bool = False
    command: Sequence[str] = ()  # the `command` executor's argv template


@dataclass(frozen=True)
class ExecutorProfile:
    executor: str
    program: str
    stream_format: str
    build: Callable[[Invocation], list[str]]
    env_passthrough: tuple[str, ...] = ()
    state_dirs: tuple[str, ...] = ()  # "~/..." or "$NAME"
    install_hint: str = ""
    env: tuple[tuple[str, str], ...] = ()  # set when confined

    def argv(self, invocation: Invocation) -> list[str]:
        return self.build(invocation)


def _model(flag: str, model: str) -> list[str]:
    return [flag, model] if model else []


def _claude(i: Invocation) -> list[str]:
    # Without our sandbox, edits are accepted and shell commands need the user's own
    # allow-list (Claude Code's settings); inside it, nothing asks.
    permissions = (
        ["--dangerously-skip-permissions"] if i.confined else ["--permission-mode", "acceptEdits"]
    )
    return [
        "claude",
        "-p",
        i.prompt,
        "--output-format",
        "stream-json",
        "--verbose",
        *permissions,
        *_model("--model", i.model),
    ]


def _codex(i: Invocation) -> list[str]:
    if i.confined:
        sandbox = ["--dangerously-bypass-approvals-and-sandbox"]
    else:
        sandbox = ["--sandbox", "workspace-write"]
        if i.allow_network:
            sandbox += ["-c", "sandbox_workspace_write.network_access=true"]
    return [
        "codex",
        "exec",
        "--json",
        "--skip-git-repo-check",
        "--ephemeral",
        "--color",
        "never",
        "-C",
        str(i.worktree),
        *sandbox,
        *_model("-m", i.model),
        "--",
        i.prompt,
    ]


def _gemini(i: Invocation) -> list[str]:
    mode = "yolo" if i.confined else "auto_edit"
    return ["gemini", "--approval-mode", mode, *_model("-m", i.model), "-p", i.prompt]


def _aider(i: Invocation) -> list[str]:
    return [
        "aider",
        "--yes-always",
        "--no-pretty",
        "--no-check-update",
        "--no-show-release-notes",
        *_model("--model", i.model),
        "--message-file",
        str(i.prompt_file),
    ]


def _opencode(i: Invocation) -> list[str]:
    return ["opencode", "run", *_model("-m", i.model), i.prompt]


def command_argv(template: Sequence[str], *, prompt_file: Path, worktree: Path) -> list[str]:
    """The `command` executor's argv: its template with the placeholders filled in."""
    return [
        str(part).replace("{prompt_file}", str(prompt_file)).replace("{worktree}", str(worktree))
        for part in template
    ]


def _command(i: Invocation) -> list[str]:
    return command_argv(i.command, prompt_file=i.prompt_file, worktree=i.worktree)


_OPENAI = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE")
_ANTHROPIC = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL")

PROFILES: dict[str, ExecutorProfile] = {
    Executor.CLAUDE_CODE: ExecutorProfile(
        executor=Executor.CLAUDE_CODE,
        program="claude",
        stream_format="claude",
        build=_claude,
        env_passthrough=(*_ANTHROPIC, "CLAUDE_CODE_OAUTH_TOKEN", "CLAUDE_CONFIG_DIR"),
        state_dirs=("$CLAUDE_CONFIG_DIR", "~/.claude"),
        install_hint="npm install -g @anthropic-ai/claude-code",
        # Claude Code refuses to skip permissions as root unless told it is sandboxed.
        env=(("IS_SANDBOX", "1"),),
    ),
    Executor.CODEX: ExecutorProfile(
        executor=Executor.CODEX,
        program="codex",
        stream_format="codex",
        build=_codex,
        env_passthrough=(*_OPENAI, "CODEX_API_KEY", "CODEX_HOME"),
        state_dirs=("$CODEX_HOME", "~/.codex"),
        install_hint="make tools",
    ),
    Executor.GEMINI: ExecutorProfile(
        executor=Executor.GEMINI,
        program="gemini",
        stream_format="text",
        build=_gemini,
        env_passthrough=("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_CLOUD_PROJECT"),
        state_dirs=("~/.gemini",),
        install_hint="npm install -g @google/gemini-cli",
    ),
    Executor.AIDER: ExecutorProfile(
        executor=Executor.AIDER,
        program="aider",
        stream_format="text",
        build=_aider,
        env_passthrough=(*_OPENAI, *_ANTHROPIC, "GEMINI_API_KEY", "OPENROUTER_API_KEY"),
        state_dirs=("~/.aider",),
        install_hint="pip install aider-chat",
    ),
    Executor.OPENCODE: ExecutorProfile(
        executor=Executor.OPENCODE,
        program="opencode",
        stream_format="text",
        build=_opencode,
        env_passthrough=(*_OPENAI, *_ANTHROPIC, "OPENROUTER_API_KEY"),
        state_dirs=("~/.local/share/opencode", "~/.config/opencode"),
        install_hint="npm install -g opencode-ai",
    ),
    Executor.COMMAND: ExecutorProfile(
        executor=Executor.COMMAND,
        program="",
        # A wrapper may run either CLI: its events are read as whichever it prints.
        stream_format="auto",
        build=_command,
    ),
}


def executor_profile(executor: str) -> ExecutorProfile:
    """The profile of a coding CLI. Raises ValueError for builtin or an unknown name."""
    try:
        return PROFILES[executor]
    except KeyError:
        raise ValueError(f"{executor!r} is not a coding CLI executor") from None


def tools_bin_dir() -> Path:
    """Where `make tools` puts the CLIs it installs."""
    return Path(settings.VAR_DIR) / "tools" / "node_modules" / ".bin"


def executor_search_path(path: str | None = None) -> str:
    """PATH for a CLI: `make tools`' programs first, then the worker's PATH."""
    rest = os.environ.get("PATH", os.defpath) if path is None else path
    return os.pathsep.join([str(tools_bin_dir()), rest])


def executor_state_dirs(profile: ExecutorProfile) -> list[Path]:
    """The existing folders where the CLI keeps its sessions and settings."""
    found: list[Path] = []
    for entry in profile.state_dirs:
        if entry.startswith("$"):
            value = os.environ.get(entry[1:], "")
            if not value:
                continue
            path = Path(value)
        else:
            path = Path(entry).expanduser()
        if path.is_dir() and path not in found:
            found.append(path)
    return found


def executor_command_error(command: Any) -> str | None:
    """What is wrong with a `command` executor's argv template, or None."""
    if not isinstance(command, list) or not command:
        return (
            "The command executor needs a command: a list of strings (argv), such as "
            '["./my-agent.sh", "{prompt_file}", "{worktree}"].'
        )
    if not all(isinstance(part, str) for part in command):
        return "Every part of the command must be a string."
    if not command[0].strip():
        return "The command's first part names the program to run."
    return None


def _program_error(program: str, hint: str) -> str | None:
    if "/" in program:
        if not os.access(program, os.X_OK) or not Path(program).is_file():
            return f"`{program}` is not an executable file"
        return None
    if shutil.which(program, path=executor_search_path()) is None:
        where = f" (install it: {hint})" if hint else ""
        return f"`{program}` not found on PATH{where}"
    return None


def executor_check(executor: str, command: Sequence[str] | None = None) -> str | None:
    """Why `executor` cannot run on this worker, or None when it can (the built-in loop
    always can). `command` is the argv template of the `command` executor."""
    if executor == Executor.BUILTIN:
        return None
    if executor not in PROFILES:
        return f"Unknown executor {executor!r}."
    profile = PROFILES[executor]
    if executor == Executor.COMMAND:
        problem = executor_command_error(list(command or []))
        if problem:
            return problem
        assert command is not None
        return _program_error(command[0], "")
    return _program_error(profile.program, profile.install_hint)
