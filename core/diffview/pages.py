"""A diff between two commits, a page of files at a time, for a review page.

`diff_page` lists every changed file (for the file tree) and reads the lines of the
current page's files only: at most `PAGE_FILES` files or about `PAGE_LINES` changed
lines, whichever comes first. A file with more than `COLLAPSE_LINES` changed lines or
`COLLAPSE_BYTES` bytes is shown collapsed, and opens on its own (`only_path`).

Everything read is keyed by commit and blob ids, which never change, and kept in
Django's cache: the file list by (base, head, whitespace), each file's hunks with their
highlighted lines by (old blob, new blob, whitespace, lexer). A page seen before costs no
git process when `base` and `head` are full commit ids, and a file unchanged between
two reviews of one branch is read and highlighted once.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from django.core.cache import cache

from core.diffview.highlight import highlight_hunks, lexer_for, lexer_key, wants_whole_side
from core.diffview.highlight import side_numbers as _side_numbers
from core.diffview.tree import TreeRow, tree_rows
from core.git import rev_parse
from core.git.patches import (
    ADDED,
    DELETED,
    DiffEntry,
    Hunk,
    blob_texts,
    diff_entries,
    file_patches,
    text_lines,
)

PAGE_FILES = 20
PAGE_LINES = 3_000
COLLAPSE_LINES = 1_500
COLLAPSE_BYTES = 400_000
# Beyond these even a file opened on its own is not shown: the browser would stall.
MAX_LINES = 20_000
MAX_BYTES = 4_000_000
CACHE_TIMEOUT_S = 30 * 24 * 3600
# Bump when what is cached changes shape or content (the parser, the highlighter, the
# rows: 3 writes them in ASCII, with their table columns declared).
CACHE_VERSION = 3
VIEWS = ("unified", "split")

_COMMIT_ID = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


class DiffFileNotFound(LookupError):
    """The file asked for is not among the diff's files."""


# Not frozen: a frozen dataclass sets each field through object.__setattr__, and a diff
# of thousands of files makes one of these per file on every view.
@dataclass(slots=True)
class DiffFile:
    """A file of the diff: in the tree always, with its hunks when on the current page."""

    entry: DiffEntry
    page: int
    anchor: str
    collapsed: bool = False  # too big for a page: opens on its own
    too_large: bool = False  # too big to show at all
    hunks: tuple[Hunk, ...] | None = None  # None: not read (another page, or not shown)
    old_html: Mapping[int, str] = field(default_factory=dict)
    new_html: Mapping[int, str] = field(default_factory=dict)
    unreadable: bool = False  # on this page, but git gave no patch for it
    # What its hunks and colours are cached under; "" when not read.
    cache_key: str = ""

    @property
    def path(self) -> str:
        return self.entry.path

    @property
    def old_path(self) -> str | None:
        return self.entry.old_path

    @property
    def status(self) -> str:
        return self.entry.status

    @property
    def additions(self) -> int:
        return self.entry.additions

    @property
    def deletions(self) -> int:
        return self.entry.deletions

    @property
    def binary(self) -> bool:
        return self.entry.binary

    @property
    def whitespace_only(self) -> bool:
        return self.entry.whitespace_only

    @property
    def mode_change(self) -> str:
        """ "100644 → 100755" when only the mode changed, else ""."""
        e = self.entry
        both = e.status not in (ADDED, DELETED) and e.old_mode and e.new_mode
        return f"{e.old_mode} → {e.new_mode}" if both and e.old_mode != e.new_mode else ""

    @property
    def shows_lines(self) -> bool:
        """Whether its lines are read for a page (binary, collapsed and whitespace-only
        files, and those too large, show a note instead)."""
        return not (self.binary or self.collapsed or self.too_large or self.entry.whitespace_only)


@dataclass(frozen=True)
class DiffPage:
    base: str  # commit ids
    head: str
    ignore_whitespace: bool
    entries: tuple[DiffFile, ...]  # every file, in tree order, without hunks
    tree: tuple[TreeRow, ...]
    files: tuple[DiffFile, ...]  # this page's files, with hunks
    number: int
    page_count: int
    only_path: str | None = None

    @property
    def file_count(self) -> int:
        return len(self.entries)

    @property
    def additions(self) -> int:
        return sum(f.additions for f in self.entries)

    @property
    def deletions(self) -> int:
        return sum(f.deletions for f in self.entries)

    @cached_property
    def shown_anchors(self) -> frozenset[str]:
        """The anchors of this page's files (the tree marks them)."""
        return frozenset(f.anchor for f in self.files)

    @property
    def has_previous(self) -> bool:
        return self.only_path is None and self.number > 1

    @property
    def has_next(self) -> bool:
        return self.only_path is None and self.number < self.page_count

    @property
    def previous_number(self) -> int:
        return self.number - 1

    @property
    def next_number(self) -> int:
        return self.number + 1


@dataclass(frozen=True)
class DiffOptions:
    """What a review page's query string asks of its diff."""

    view: str = "unified"
    ignore_whitespace: bool = False
    page: int = 1
    only_path: str | None = None


def diff_options(query: Mapping[str, Any]) -> DiffOptions:
    """`view=unified|split`, `ws=ignore`, `page=N` and `file=<path>` read from a query
    string (request.GET); anything else falls back to the default."""
    page = str(query.get("page") or "1")
    return DiffOptions(
        view="split" if query.get("view") == "split" else "unified",
        ignore_whitespace=query.get("ws") == "ignore",
        page=int(page) if page.isascii() and page.isdecimal() and 0 < len(page) < 7 else 1,
        only_path=str(query.get("file")) if query.get("file") else None,
    )


def file_anchor(path: str) -> str:
    """The HTML id of a file's section: the same on every page and in every view."""
    digest = hashlib.sha1(path.encode("utf-8", "replace"), usedforsecurity=False)
    return f"f-{digest.hexdigest()[:12]}"


def line_anchor(path: str, side: str, line: int) -> str:
    """The HTML id of line `line` on `side` ("old" or "new") of file `path`."""
    return f"{file_anchor(path)}-{side[:1]}{line}"


def diff_page(
    repo: Path | str,
    base: str,
    head: str,
    *,
    page: int = 1,
    ignore_whitespace: bool = False,
    only_path: str | None = None,
) -> DiffPage:
    """Page `page` of the diff from commit `base` to commit `head` (a page past the last
    is the last), or the file `only_path` alone, uncollapsed.

    Raises GitError when git cannot read the commits, DiffFileNotFound when `only_path`
    is not in the diff.
    """
    base_id, head_id = _commit_id(repo, base), _commit_id(repo, head)
    listed = _paginate(_entries(repo, base_id, head_id, ignore_whitespace))
    page_count = max((f.page for f in listed), default=1)
    if only_path is not None:
        chosen = [f for f in listed if f.path == only_path]
        if not chosen:
            raise DiffFileNotFound(f"{only_path} is not among the files this diff changes")
        number = chosen[0].page
        chosen = [replace(chosen[0], collapsed=False)]
    else:
        number = min(max(page, 1), page_count)
        chosen = [f for f in listed if f.page == number]
    return DiffPage(
        base=base_id,
        head=head_id,
        ignore_whitespace=ignore_whitespace,
        entries=tuple(listed),
        tree=tuple(tree_rows(listed)),
        files=tuple(_read(repo, base_id, head_id, chosen, ignore_whitespace)),
        number=number,
        page_count=page_count,
        only_path=only_path,
    )


def _commit_id(repo: Path | str, rev: str) -> str:
    # A full id needs no git process: the warm path of a stored review.
    return rev if _COMMIT_ID.fullmatch(rev) else rev_parse(repo, rev)


def _entries(repo: Path | str, base: str, head: str, ws: bool) -> list[DiffEntry]:
    key = f"crewboard:diff:{CACHE_VERSION}:list:{base}:{head}:{int(ws)}"
    entries: list[DiffEntry] | None = cache.get(key)
    if entries is None:
        entries = diff_entries(repo, base, head, ignore_whitespace=ws)
        cache.set(key, entries, CACHE_TIMEOUT_S)
    return entries


def _paginate(entries: Sequence[DiffEntry]) -> list[DiffFile]:
    files = []
    number, on_page, lines = 1, 0, 0
    # Tree order: a folder's files stay together, and the pages follow the tree.
    for entry in sorted(entries, key=lambda e: e.path.split("/")):
        size = max(entry.old_size, entry.new_size)
        too_large = entry.changed_lines > MAX_LINES or size > MAX_BYTES
        collapsed = too_large or entry.changed_lines > COLLAPSE_LINES or size > COLLAPSE_BYTES
        collapsed = collapsed and not entry.binary
        cost = 0 if (entry.binary or collapsed) else entry.changed_lines
        if on_page and (on_page >= PAGE_FILES or lines + cost > PAGE_LINES):
            number, on_page, lines = number + 1, 0, 0
        on_page, lines = on_page + 1, lines + cost
        files.append(
            DiffFile(
                entry=entry,
                page=number,
                anchor=file_anchor(entry.path),
                collapsed=collapsed,
                too_large=too_large,
            )
        )
    return files


def _file_key(file: DiffFile, ws: bool) -> str:
    e = file.entry
    lexer = lexer_key(lexer_for(file.path))
    return f"crewboard:diff:{CACHE_VERSION}:file:{e.old_blob}:{e.new_blob}:{int(ws)}:{lexer}"


def _read(
    repo: Path | str, base: str, head: str, chosen: Sequence[DiffFile], ws: bool
) -> list[DiffFile]:
    # One cache round trip for the page; one `git diff` and at most one `git cat-file`
    # for the files it did not hold.
    keys = {f.anchor: _file_key(f, ws) for f in chosen if f.shows_lines}
    found: dict[str, Any] = cache.get_many(list(keys.values())) if keys else {}
    missing = [f for f in chosen if f.anchor in keys and keys[f.anchor] not in found]
    if missing:
        fresh = _read_missing(repo, base, head, missing, ws)
        cache.set_many({keys[a]: v for a, v in fresh.items() if v is not None}, CACHE_TIMEOUT_S)
        found.update({keys[a]: v for a, v in fresh.items()})
    out = []
    for file in chosen:
        value = found.get(keys[file.anchor]) if file.anchor in keys else None
        if value is not None:
            hunks, old_html, new_html = value
            file = replace(
                file, hunks=hunks, old_html=old_html, new_html=new_html, cache_key=keys[file.anchor]
            )
        elif file.anchor in keys:
            file = replace(file, hunks=(), unreadable=True)
        out.append(file)
    return out


def _read_missing(
    repo: Path | str, base: str, head: str, files: Sequence[DiffFile], ws: bool
) -> dict[str, tuple[tuple[Hunk, ...], dict[int, str], dict[int, str]] | None]:
    patches = file_patches(repo, base, head, [f.entry for f in files], ignore_whitespace=ws)
    wanted = set()
    for file, patch in zip(files, patches, strict=True):
        if patch is not None:
            for side, blob in (("old", file.entry.old_blob), ("new", file.entry.new_blob)):
                if wants_whole_side(_side_numbers(patch.hunks, side)):
                    wanted.add(blob)
    blobs = blob_texts(repo, wanted) if wanted else {}
    out: dict[str, tuple[tuple[Hunk, ...], dict[int, str], dict[int, str]] | None] = {}
    for file, patch in zip(files, patches, strict=True):
        if patch is None:
            out[file.anchor] = None
            continue
        sides = {"old": file.entry.old_blob, "new": file.entry.new_blob}

        def whole(side: str, sides: dict[str, str] = sides) -> list[str] | None:
            data = blobs.get(sides[side])
            return text_lines(data) if data is not None else None

        old_html, new_html = highlight_hunks(patch.hunks, lexer_for(file.path), whole)
        out[file.anchor] = (patch.hunks, old_html, new_html)
    return out


def diff_pages(
    repo: Path | str, base: str, head: str, *, ignore_whitespace: bool = False
) -> Iterator[DiffPage]:
    """Every page of the diff from `base` to `head`, first to last, each read into the
    cache as `diff_page` reads it. Raises GitError."""
    first = diff_page(repo, base, head, ignore_whitespace=ignore_whitespace)
    yield first
    for number in range(2, first.page_count + 1):
        yield diff_page(
            repo, first.base, first.head, page=number, ignore_whitespace=ignore_whitespace
        )


def diff_warm(repo: Path | str, base: str, head: str, *, ignore_whitespace: bool = False) -> int:
    """Read and highlight every page of the diff into the cache, so that a reviewer's
    first view of each is as fast as a second one: for a background task run when a
    review's commits change (with a cache the web processes share). Returns the number
    of pages. Raises GitError."""
    return sum(1 for _ in diff_pages(repo, base, head, ignore_whitespace=ignore_whitespace))
