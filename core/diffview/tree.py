"""The file tree of a diff: folders and files with their +/- counts, and its HTML.

Its rows are HTML built here, as a file's lines are (core/diffview/rows.py): a diff of
thousands of files lists them all, and a template loop costs about 250 microseconds a
row where this costs a few.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.diffview.pages import DiffFile, DiffPage

# app.css indents the tree by depth classes up to this one.
TREE_INDENTS = 8


@dataclass(frozen=True, slots=True)
class TreeRow:
    """A folder or a file at `depth`; a folder holding a single folder is merged with it
    ("src/app")."""

    name: str
    depth: int
    additions: int
    deletions: int
    file: DiffFile | None = None  # None for a folder

    @property
    def indent(self) -> int:
        """The depth the stylesheet indents (it stops at TREE_INDENTS)."""
        return min(self.depth, TREE_INDENTS)


def tree_rows(files: Sequence[DiffFile]) -> list[TreeRow]:
    """The tree of `files`, given in tree order (as `diff_page` sorts them)."""
    root: dict[str, Any] = {}
    for file in files:
        *folders, name = file.path.split("/")
        node = root
        for folder in folders:
            # The "/" keeps a folder apart from a file of the same name (a type change).
            node = node.setdefault(folder + "/", {})
        node[name] = file
    rows: list[TreeRow] = []
    _walk(root, 0, rows)
    return rows


def _walk(node: dict[str, Any], depth: int, rows: list[TreeRow]) -> tuple[int, int]:
    added = removed = 0
    for key, child in node.items():
        if not isinstance(child, dict):
            rows.append(TreeRow(key, depth, child.additions, child.deletions, child))
            added, removed = added + child.additions, removed + child.deletions
            continue
        name = key[:-1]
        while len(child) == 1 and isinstance(only := next(iter(child.values())), dict):
            name, child = f"{name}/{next(iter(child))[:-1]}", only
        at = len(rows)
        rows.append(TreeRow(name, depth, 0, 0))
        sub_added, sub_removed = _walk(child, depth + 1, rows)
        rows[at] = TreeRow(name, depth, sub_added, sub_removed)
        added, removed = added + sub_added, removed + sub_removed
    return added, removed


def _counts(row: TreeRow) -> str:
    return (
        f'<span class="pd-counts"><span class="diff-add">+{row.additions}</span> '
        f'<span class="diff-del">&minus;{row.deletions}</span></span>'
    )


def tree_html(page: DiffPage, query: str) -> str:
    """The tree's `<li>` rows. A file on this page links to its anchor, one on another
    page to `?<query>&page=N#anchor`; `query` is the page's query string without `page`
    and `file` (so the view and whitespace choices carry over)."""
    here = page.shown_anchors if page.only_path is None else frozenset()
    prefix = f"?{escape(query)}&amp;page=" if query else "?page="
    out = []
    for row in page.tree:
        file = row.file
        if file is None:
            out.append(
                f'<li class="pd-tree-row pd-tree-row--dir pd-depth-{row.indent}">'
                f'<span class="pd-tree-dir" title="{escape(row.name)}/">{escape(row.name)}/</span>'
                f"{_counts(row)}</li>"
            )
            continue
        current = " pd-tree-row--here" if file.anchor in page.shown_anchors else ""
        href = f"#{file.anchor}" if file.anchor in here else f"{prefix}{file.page}#{file.anchor}"
        counts = '<span class="muted small">binary</span>' if file.binary else _counts(row)
        title = escape(f"{file.status}: {file.path}")
        out.append(
            f'<li class="pd-tree-row pd-depth-{row.indent}{current}">'
            f'<a class="pd-tree-file pd-status--{file.status}" title="{title}" href="{href}">'
            f"{escape(row.name)}</a>{counts}</li>"
        )
    return "".join(out)
