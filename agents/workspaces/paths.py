"""Confinement of the paths a model names: every file a code tool touches lies inside
the run's worktree, outside its `.git`, and is UTF-8 text of a sane size.

A model's path is untrusted input. `..`, absolute paths and symlinks that lead out are
refused rather than normalised, so the model learns the rule instead of being silently
redirected.
"""

from __future__ import annotations

import subprocess
from pathlib import Path, PurePosixPath

# Larger files are almost always generated or data; a model reading one wastes its context.
MAX_FILE_BYTES = 1_000_000


class PathError(ValueError):
    """A path a tool refuses, with a message the model can act on."""


def _inside(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def worktree_file(worktree: Path, relative: str, *, allow_root: bool = False) -> Path:
    """The absolute, symlink-free path of `relative` inside `worktree`.

    Raises PathError for an empty path (unless `allow_root`), an absolute path, a `..`
    part, a part named `.git`, or a path that symlinks lead outside the worktree or
    into its `.git`.
    """
    if "\x00" in relative:
        raise PathError("a path may not contain NUL characters")
    pure = PurePosixPath(relative)
    if pure.is_absolute():
        raise PathError(
            f"{relative!r} is an absolute path; give a path relative to the worktree root"
        )
    if ".." in pure.parts:
        raise PathError(f"{relative!r} contains '..'; paths stay inside the worktree")
    if any(part.lower() == ".git" for part in pure.parts):
        raise PathError(f"{relative!r} is inside .git, which the tools do not touch")
    parts = [part for part in pure.parts if part != "."]
    if not parts and not allow_root:
        raise PathError("the path is empty; name a file relative to the worktree root")
    root = worktree.resolve()
    resolved = root.joinpath(*parts).resolve()
    if not _inside(resolved, root):
        raise PathError(f"{relative!r} leads outside the worktree (through a symlink)")
    # In a worktree `.git` is a file naming the real git dir; a symlink may still aim at it.
    if _inside(resolved, root / ".git"):
        raise PathError(f"{relative!r} leads into .git (through a symlink)")
    return resolved


def relative_name(worktree: Path, path: Path) -> str:
    """How a tool names `path` back to the model: relative to the worktree, '/'-separated."""
    return path.relative_to(worktree.resolve()).as_posix() or "."


def read_text(path: Path, *, name: str, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The file's text. Raises PathError for a missing file, a directory, a file over
    `max_bytes`, or one that is binary (NUL bytes or not UTF-8)."""
    if not path.exists():
        raise PathError(f"{name} does not exist")
    if not path.is_file():
        raise PathError(f"{name} is not a regular file")
    size = path.stat().st_size
    if size > max_bytes:
        raise PathError(f"{name} is {size} bytes, over the {max_bytes}-byte limit for text files")
    data = path.read_bytes()
    if b"\x00" in data:
        raise PathError(f"{name} is a binary file (it contains NUL bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PathError(
            f"{name} is not UTF-8 text (invalid byte at offset {exc.start}); binary files "
            "are not read"
        ) from None


def write_text(path: Path, text: str, *, name: str, max_bytes: int = MAX_FILE_BYTES) -> bool:
    """Write `text` to `path`, making its folders; whether the file is new. Raises
    PathError when `path` is a folder or the text is over `max_bytes`."""
    data = text.encode("utf-8")
    if len(data) > max_bytes:
        raise PathError(f"the content is {len(data)} bytes, over the {max_bytes}-byte limit")
    if path.is_dir():
        raise PathError(f"{name} is a folder")
    created = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write whole or not at all: a half-written source file is worse than none.
    temporary = path.with_name(f".{path.name}.crewboard-tmp")
    temporary.write_bytes(data)
    if not created:
        temporary.chmod(path.stat().st_mode & 0o7777)
    temporary.replace(path)
    return created


def worktree_mounts(worktree: Path) -> tuple[list[Path], list[Path]]:
    """What a sandboxed command in `worktree` may write, and what inside that stays
    read-only: the worktree and its repository's git dir (commits write objects and
    refs there), but not the repository's config and hooks, which would let a command
    plant code that git later runs outside the sandbox (in the user's own checkout, or
    in Crewboard's git commands on the worktree), nor the user's index, HEAD and
    checked-out branch."""
    writable: list[Path] = [worktree.resolve()]
    read_only: list[Path] = []
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--path-format=absolute", "--git-common-dir", "--git-dir"],
            cwd=worktree,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return writable, read_only  # not a git work tree: nothing more to allow
    common, git_dir = Path(found[0]), Path(found[1])
    if not _inside(common.resolve(), writable[0]):
        writable.append(common.resolve())
    # The pointers between worktree and repository stay put too: redirected, they would
    # hand Crewboard's own git commands a config the agent wrote.
    read_only += [common / "config", common / "hooks", git_dir / "config.worktree"]
    read_only += [git_dir / "commondir", git_dir / "gitdir"]
    # The user's own checkout: its index, the branch it has checked out, and where that
    # branch points (a loose ref; a packed one changes only through git's own rewrite).
    read_only += [common / "index", common / "HEAD"]
    head = common / "HEAD"
    if head.is_file() and (target := head.read_text().strip()).startswith("ref: refs/"):
        read_only.append(common / target.removeprefix("ref: "))
    if (worktree / ".git").is_file():
        read_only.append(worktree.resolve() / ".git")
    return writable, [path for path in read_only if path.exists()]
