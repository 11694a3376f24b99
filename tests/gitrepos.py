"""Real git repositories for tests: made in tmp_path with the git on PATH."""

import hashlib
import subprocess
from pathlib import Path

from tests.hang import HANG_S

IDENTITY = ("-c", "user.name=Test", "-c", "user.email=test@example.com")


def run_git(path: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *IDENTITY, *args],
        cwd=path,
        capture_output=True,
        text=True,
        check=True,
        timeout=HANG_S,
        # No optional locks: a status must not refresh the index a test is hashing.
        env={"GIT_OPTIONAL_LOCKS": "0", "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/"},
    )
    return done.stdout.strip()


def make_repo(path: Path, files: dict[str, str] | None = None, *, branch: str = "main") -> Path:
    """A repository at `path` with one commit of `files` on `branch`."""
    path.mkdir(parents=True, exist_ok=True)
    run_git(path, "init", "-q", "-b", branch)
    for name, text in (files or {"README.md": "hello\n"}).items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    run_git(path, "add", "-A")
    run_git(path, "commit", "-q", "-m", "first")
    return path


def entries(folder: Path | str) -> list[Path]:
    """What a folder holds; nothing when it was never made."""
    folder = Path(folder)
    return sorted(folder.iterdir()) if folder.exists() else []


def checkout_fingerprint(repo: Path) -> dict[str, str]:
    """What the user sees of their checkout: every file's bytes (outside .git), HEAD,
    the index file, and `git status --porcelain`."""
    files = hashlib.sha256()
    for file in sorted(p for p in repo.rglob("*") if ".git" not in p.relative_to(repo).parts):
        if file.is_file():
            files.update(str(file.relative_to(repo)).encode() + b"\0" + file.read_bytes())
    return {
        "files": files.hexdigest(),
        "HEAD": (repo / ".git" / "HEAD").read_text(),
        "head_commit": run_git(repo, "rev-parse", "HEAD"),
        "index": hashlib.sha256((repo / ".git" / "index").read_bytes()).hexdigest(),
        "status": run_git(repo, "status", "--porcelain", "--untracked-files=all"),
    }


def write_files(repo: Path, files: dict[str, str | bytes | None]) -> None:
    """Write `files` (text or bytes) into the checkout; None deletes one."""
    for name, content in files.items():
        path = repo / name
        if content is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def commit_on(
    repo: Path,
    branch: str,
    files: dict[str, str | bytes | None],
    message: str = "change",
    *,
    author: str = "",
    date: str = "",
) -> str:
    """Commit `files` (None deletes one) on `branch`, made from the current branch if new;
    the checkout goes back to the branch it was on. Returns the commit."""
    current = run_git(repo, "branch", "--show-current")
    exists = run_git(repo, "branch", "--list", branch) != ""
    run_git(repo, "checkout", "-q", *(() if exists else ("-b",)), branch)
    write_files(repo, files)
    run_git(repo, "add", "-A")
    extra = (*(("--author", author) if author else ()), *(("--date", date) if date else ()))
    run_git(repo, "commit", "-q", "-m", message, *extra)
    run_git(repo, "checkout", "-q", current)
    return run_git(repo, "rev-parse", branch)


def refs(repo: Path) -> str:
    """Every ref of the repository with its commit."""
    return run_git(repo, "for-each-ref", "--format=%(refname) %(objectname)")


def commit_files(repo: Path, files: dict[str, str | bytes | None], message: str = "change") -> str:
    """Write `files` (text or bytes; None deletes), commit them all, return the commit id."""
    write_files(repo, files)
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "-m", message)
    return run_git(repo, "rev-parse", "HEAD")
