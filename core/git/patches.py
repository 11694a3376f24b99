"""The changes between two commits, file by file and line by line, for a review page.

`diff_entries` lists every changed file (one `git diff --raw --numstat` and one
`git cat-file --batch-check` for the sizes); `file_patches` reads the hunks of a few of
them (one `git diff -- <paths>`, parsed by core.git.hunks in one pass). Text is
decoded from UTF-8 with replacement characters, so a file in another encoding still
shows. Imports nothing of the project but `core.git`, and no Django.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from core.git import GitError, git_bytes
from core.git.hunks import (
    ADD,
    ADDED,
    CONTEXT,
    CR_SYMBOL,
    DEL,
    DELETED,
    MODIFIED,
    RENAMED,
    ZERO_ID,
    DiffLine,
    FilePatch,
    Hunk,
    clean_line,
    parse_patch,
)

# The user's git config must not change what we parse: prefixes, quoting, blank context
# lines and external or text-converting diff drivers are pinned on every call.
_PINNED = (
    *("-c", "core.quotePath=true"),
    *("-c", "diff.noprefix=false"),
    *("-c", "diff.mnemonicPrefix=false"),
    *("-c", "diff.suppressBlankEmpty=false"),
    *("-c", "diff.relative=false"),
    "--literal-pathspecs",
)
_DIFF_OPTIONS = ("--no-color", "--no-ext-diff", "--no-textconv")
_STATUS = {"A": ADDED, "D": DELETED, "R": RENAMED, "C": ADDED}
_STATUS = {"A": ADDED, "D": DELETED, "R": RENAMED, "C": ADDED}


class DiffEntry(NamedTuple):
    """A changed file in the list of a diff, with its counts but no lines (a tuple: a
    diff's list is cached, and read back on every view, thousands of files at times)."""

    old_path: str | None  # None when the file was added
    new_path: str | None  # None when the file was deleted
    status: str  # ADDED, MODIFIED, DELETED or RENAMED
    additions: int
    deletions: int
    binary: bool
    old_blob: str  # ZERO_ID when added
    new_blob: str  # ZERO_ID when deleted
    old_mode: str
    new_mode: str
    similarity: int = 0  # percent, for a rename
    # Listed by git, but with whitespace ignored nothing is left of the change.
    whitespace_only: bool = False
    old_size: int = 0  # bytes, when known
    new_size: int = 0

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""

    @property
    def changed_lines(self) -> int:
        return self.additions + self.deletions


def _check_revs(*revs: str) -> None:
    for rev in revs:
        if not rev or rev.startswith("-"):
            raise GitError(f"{rev!r} is not a revision")


def _whitespace(ignore: bool) -> tuple[str, ...]:
    return ("--ignore-all-space",) if ignore else ()


# The list ------------------------------------------------------------------------------


def diff_entries(
    repo: Path | str, base: str, head: str, *, ignore_whitespace: bool = False
) -> list[DiffEntry]:
    """Every file that differs between commits `base` and `head`, renames found, in
    git's order, with line counts and blob sizes. Raises GitError."""
    _check_revs(base, head)
    out = git_bytes(
        *_PINNED, "diff", *_DIFF_OPTIONS, "--raw", "--numstat", "-z", "--no-abbrev",
        "--find-renames", *_whitespace(ignore_whitespace), base, head, "--",
        cwd=repo,
    )  # fmt: skip
    entries = _parse_raw_numstat(out)
    sizes = blob_sizes(repo, [e.old_blob for e in entries] + [e.new_blob for e in entries])
    return [
        e._replace(old_size=sizes.get(e.old_blob, 0), new_size=sizes.get(e.new_blob, 0))
        for e in entries
    ]


def _parse_raw_numstat(out: bytes) -> list[DiffEntry]:
    # `--raw -z`: ":<mode> <mode> <id> <id> <status>\0<path>\0[<new path>\0]" per file, then
    # `--numstat -z`: "<added>\t<deleted>\t<path>\0" or, for a rename,
    # "<added>\t<deleted>\t\0<old path>\0<new path>\0". With whitespace ignored, a file
    # whose change was all whitespace has a raw record and no numstat one.
    fields = [field.decode("utf-8", "replace") for field in out.split(b"\0")]
    raw: list[tuple[list[str], str, str | None]] = []
    counts: dict[str, tuple[int, int, bool]] = {}
    i = 0
    while i < len(fields):
        field = fields[i]
        if field.startswith(":"):
            meta = field[1:].split(" ")
            if meta[4][:1] in "RC":
                raw.append((meta, fields[i + 1], fields[i + 2]))
                i += 3
            else:
                raw.append((meta, fields[i + 1], None))
                i += 2
        elif field:
            added, deleted, path = field.split("\t", 2)
            if not path:  # a rename: the names follow
                path = fields[i + 2]
                i += 2
            binary = added == "-"
            counts[path] = (0 if binary else int(added), 0 if binary else int(deleted), binary)
            i += 1
        else:
            i += 1
    entries = []
    for meta, first, second in raw:
        old_mode, new_mode, old_blob, new_blob, letter = meta[:5]
        status = _STATUS.get(letter[:1], MODIFIED)
        old_path = None if status == ADDED and second is None else first
        new_path = second if second is not None else (None if status == DELETED else first)
        key = new_path if new_path is not None else first
        additions, deletions, binary = counts.get(key, (0, 0, False))
        entries.append(
            DiffEntry(
                old_path=old_path,
                new_path=new_path,
                status=status,
                additions=additions,
                deletions=deletions,
                binary=binary,
                old_blob=old_blob,
                new_blob=new_blob,
                old_mode=old_mode,
                new_mode=new_mode,
                similarity=int(letter[1:]) if letter[1:].isdigit() else 0,
                whitespace_only=key not in counts,
            )
        )
    return entries


# Blobs -----------------------------------------------------------------------------------


def _real_blobs(ids: Iterable[str]) -> list[str]:
    return sorted({i for i in ids if i and i != ZERO_ID})


def blob_sizes(repo: Path | str, ids: Iterable[str]) -> dict[str, int]:
    """The size in bytes of each blob id the repository has (one `git cat-file`)."""
    wanted = _real_blobs(ids)
    if not wanted:
        return {}
    out = git_bytes("cat-file", "--batch-check", cwd=repo, stdin=_lines(wanted))
    sizes = {}
    for line in out.decode("ascii", "replace").splitlines():
        parts = line.split(" ")
        if len(parts) == 3 and parts[2].isdigit():
            sizes[parts[0]] = int(parts[2])
    return sizes


def blob_texts(repo: Path | str, ids: Iterable[str]) -> dict[str, bytes]:
    """The bytes of each blob id the repository has (one `git cat-file`); a missing
    one (a submodule's commit) is left out."""
    wanted = _real_blobs(ids)
    if not wanted:
        return {}
    out = git_bytes("cat-file", "--batch", cwd=repo, stdin=_lines(wanted))
    blobs: dict[str, bytes] = {}
    pos = 0
    # Each object: "<id> <type> <size>\n<bytes>\n"; a missing one: "<id> missing\n".
    while pos < len(out):
        end = out.index(b"\n", pos)
        parts = out[pos:end].split(b" ")
        pos = end + 1
        if len(parts) == 3 and parts[2].isdigit():
            size = int(parts[2])
            if parts[1] == b"blob":
                blobs[parts[0].decode("ascii")] = out[pos : pos + size]
            pos += size + 1
    return blobs


def _lines(ids: Sequence[str]) -> bytes:
    return "".join(f"{i}\n" for i in ids).encode("ascii")


def text_lines(data: bytes) -> list[str]:
    """A file's lines as the parser gives them: UTF-8 with replacement characters, line
    endings dropped, a stray carriage return shown as a symbol."""
    lines = data.decode("utf-8", "replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [clean_line(line) for line in lines]


# The patch ---------------------------------------------------------------------------------


def file_patches(
    repo: Path | str,
    base: str,
    head: str,
    entries: Sequence[DiffEntry],
    *,
    ignore_whitespace: bool = False,
) -> list[FilePatch | None]:
    """The patch of each of `entries` (from `diff_entries` with the same arguments), in
    their order, from one `git diff`; None for a file with nothing left to show (a change
    in whitespace only, with whitespace ignored). Raises GitError."""
    _check_revs(base, head)
    if not entries:
        return []
    paths = sorted({p for e in entries for p in (e.old_path, e.new_path) if p is not None})
    # Without a rename among these files, none may be found: a file added here and one
    # deleted here were not a pair in the whole diff, and must not become one now.
    renames = any(e.status == RENAMED for e in entries)
    out = git_bytes(
        *_PINNED, "diff", *_DIFF_OPTIONS, "--full-index", "--unified=3",
        "--src-prefix=a/", "--dst-prefix=b/",
        "--find-renames" if renames else "--no-renames",
        *_whitespace(ignore_whitespace), base, head, "--", *paths,
        cwd=repo,
    )  # fmt: skip
    parsed = parse_patch(out.decode("utf-8", "replace"))
    by_pair = {(p.old_path, p.new_path): p for p in parsed}
    by_path = {p.path: p for p in parsed}
    return [by_pair.get((e.old_path, e.new_path)) or by_path.get(e.path) for e in entries]


__all__ = [
    "ADD",
    "ADDED",
    "CONTEXT",
    "CR_SYMBOL",
    "DEL",
    "DELETED",
    "MODIFIED",
    "RENAMED",
    "ZERO_ID",
    "DiffEntry",
    "DiffLine",
    "FilePatch",
    "Hunk",
    "blob_sizes",
    "blob_texts",
    "diff_entries",
    "file_patches",
    "parse_patch",
    "text_lines",
]
