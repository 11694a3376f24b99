"""The text of a `git diff` patch, parsed in one pass into files, hunks and lines.

Imports nothing of the project and no Django.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

ADDED, MODIFIED, DELETED, RENAMED = "added", "modified", "deleted", "renamed"
CONTEXT, ADD, DEL = "context", "add", "del"
ZERO_ID = "0" * 40
# A carriage return inside a line would end it for an HTML parser and for Pygments; it is
# shown as this symbol instead (a line's trailing one, a CRLF ending, is dropped).
CR_SYMBOL = "\u240d"


class DiffLine(NamedTuple):
    # A tuple rather than a dataclass: a page holds thousands, and the cache unpickles
    # them on every view.
    kind: str  # CONTEXT, ADD or DEL
    old: int | None  # line number in the base, None for an added line
    new: int | None  # line number in the head, None for a deleted line
    text: str
    no_newline: bool = False  # git's "\ No newline at end of file" follows


@dataclass(frozen=True, slots=True)
class Hunk:
    old_start: int
    old_count: int
    new_start: int
    new_count: int
    section: str  # the enclosing function or heading git names after "@@"
    lines: tuple[DiffLine, ...]

    @property
    def header(self) -> str:
        head = f"@@ -{self.old_start},{self.old_count} +{self.new_start},{self.new_count} @@"
        return f"{head} {self.section}" if self.section else head


@dataclass(frozen=True, slots=True)
class FilePatch:
    """One file's section of a patch: its header fields and hunks."""

    old_path: str | None
    new_path: str | None
    status: str
    binary: bool
    old_blob: str
    new_blob: str
    old_mode: str
    new_mode: str
    hunks: tuple[Hunk, ...]

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""

    @property
    def additions(self) -> int:
        return sum(1 for hunk in self.hunks for line in hunk.lines if line.kind == ADD)

    @property
    def deletions(self) -> int:
        return sum(1 for hunk in self.hunks for line in hunk.lines if line.kind == DEL)


def clean_line(text: str) -> str:
    """A line without its carriage return ending, any other shown as CR_SYMBOL."""
    if text.endswith("\r"):
        text = text[:-1]
    return text.replace("\r", CR_SYMBOL) if "\r" in text else text


def parse_patch(text: str) -> list[FilePatch]:
    """The files of a `git diff` patch (as `file_patches` asks for it), in one pass over
    its lines."""
    lines = text.split("\n")
    patches = []
    i, n = 0, len(lines)
    while i < n:
        if not lines[i].startswith("diff --git "):
            i += 1
            continue
        header = _FileHeader(lines[i][len("diff --git ") :])
        i += 1
        while i < n and not lines[i].startswith(("@@ ", "diff --git ")):
            header.read(lines[i])
            i += 1
        hunks = []
        while i < n and lines[i].startswith("@@ "):
            hunk, i = _parse_hunk(lines, i)
            if hunk is None:
                break
            hunks.append(hunk)
        patches.append(header.patch(tuple(hunks)))
    return patches


class _FileHeader:
    """The lines between "diff --git" and the first hunk."""

    def __init__(self, names: str) -> None:
        self.old_path, self.new_path = _header_paths(names)
        self.status = MODIFIED
        self.binary = False
        self.old_blob = self.new_blob = ""
        self.old_mode = self.new_mode = ""

    def read(self, line: str) -> None:
        if line.startswith("--- "):
            self.old_path = _patch_path(line[4:], "a/")
        elif line.startswith("+++ "):
            self.new_path = _patch_path(line[4:], "b/")
        elif line.startswith("rename from "):
            self.old_path, self.status = _unquote(line[12:]), RENAMED
        elif line.startswith("rename to "):
            self.new_path, self.status = _unquote(line[10:]), RENAMED
        elif line.startswith("new file mode "):
            self.status, self.new_mode = ADDED, line[14:]
        elif line.startswith("deleted file mode "):
            self.status, self.old_mode = DELETED, line[18:]
        elif line.startswith("old mode "):
            self.old_mode = line[9:]
        elif line.startswith("new mode "):
            self.new_mode = line[9:]
        elif line.startswith("index "):
            ids, _, mode = line[6:].partition(" ")
            self.old_blob, _, self.new_blob = ids.partition("..")
            if mode:
                self.old_mode = self.old_mode or mode
                self.new_mode = self.new_mode or mode
        elif line.startswith("Binary files ") and line.endswith(" differ"):
            self.binary = True

    def patch(self, hunks: tuple[Hunk, ...]) -> FilePatch:
        return FilePatch(
            old_path=None if self.status == ADDED else self.old_path,
            new_path=None if self.status == DELETED else self.new_path,
            status=self.status,
            binary=self.binary,
            old_blob=self.old_blob or ZERO_ID,
            new_blob=self.new_blob or ZERO_ID,
            old_mode=self.old_mode,
            new_mode=self.new_mode,
            hunks=hunks,
        )


def _parse_hunk(lines: list[str], i: int) -> tuple[Hunk | None, int]:
    # "@@ -<start>[,<count>] +<start>[,<count>] @@[ <section>]"; the counts say where the
    # hunk ends, so a deleted line reading "-- x" is never taken for a "--- " header.
    ranges, _, section = lines[i][3:].partition(" @@")
    old_range, _, new_range = ranges.partition(" ")
    try:
        old_start, old_count = _range(old_range.removeprefix("-"))
        new_start, new_count = _range(new_range.removeprefix("+"))
    except ValueError:
        return None, i
    i += 1
    old_no, new_no = old_start, new_start
    old_left, new_left = old_count, new_count
    out: list[DiffLine] = []
    n = len(lines)
    while i < n and (old_left > 0 or new_left > 0 or lines[i].startswith("\\")):
        line = lines[i]
        tag = line[:1]
        if tag == " " or (line == "" and old_left > 0 and new_left > 0):
            out.append(DiffLine(CONTEXT, old_no, new_no, clean_line(line[1:])))
            old_no, new_no, old_left, new_left = old_no + 1, new_no + 1, old_left - 1, new_left - 1
        elif tag == "-":
            out.append(DiffLine(DEL, old_no, None, clean_line(line[1:])))
            old_no, old_left = old_no + 1, old_left - 1
        elif tag == "+":
            out.append(DiffLine(ADD, None, new_no, clean_line(line[1:])))
            new_no, new_left = new_no + 1, new_left - 1
        elif tag == "\\":
            if out:
                out[-1] = out[-1]._replace(no_newline=True)
        else:
            break
        i += 1
    hunk = Hunk(old_start, old_count, new_start, new_count, section.strip(), tuple(out))
    return hunk, i


def _range(text: str) -> tuple[int, int]:
    start, _, count = text.partition(",")
    return int(start), int(count) if count else 1


def _patch_path(text: str, prefix: str) -> str | None:
    # git ends the name with a tab when it holds a space, for patch(1)'s sake.
    text = text.removesuffix("\t")
    if text == "/dev/null":
        return None
    return _unquote(text).removeprefix(prefix)


def _header_paths(names: str) -> tuple[str | None, str | None]:
    # "a/<old> b/<new>", each quoted when it holds unusual bytes. Unquoted names with
    # spaces are ambiguous unless both are the same, as they are for all but a rename
    # (whose "rename from/to" lines name both anyway).
    if names.startswith('"'):
        first, rest = _split_quoted(names)
        second = rest.lstrip(" ")
        return first.removeprefix("a/"), _unquote(second).removeprefix("b/")
    if names.endswith('"'):
        start = names.rfind(' "')
        return names[:start].removeprefix("a/"), _unquote(names[start + 1 :]).removeprefix("b/")
    half = (len(names) - 5) // 2
    old, new = names[2 : 2 + half], names[5 + half :]
    if len(names) % 2 == 1 and old == new and names[2 + half : 5 + half] == " b/":
        return old, new
    return None, None


def _split_quoted(text: str) -> tuple[str, str]:
    # The first C-quoted string of `text`, unquoted, and what follows it.
    i = 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return _unquote(text[: i + 1]), text[i + 1 :]
        i += 1
    return _unquote(text), ""


_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def _unquote(text: str) -> str:
    """A name as git quotes it ("caf\\303\\251.txt"), back to text."""
    if not (len(text) >= 2 and text.startswith('"') and text.endswith('"')):
        return text
    body = text[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in "01234567" and i + 4 <= len(body):
                out.append(int(body[i + 1 : i + 4], 8) & 0xFF)
                i += 4
                continue
            out.append(_ESCAPES.get(nxt, ord(nxt) & 0xFF))
            i += 2
            continue
        out.extend(char.encode("utf-8"))
        i += 1
    return out.decode("utf-8", "replace")
