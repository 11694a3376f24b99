"""The table rows of one file's diff, unified or side by side, as HTML.

The rows are built here rather than in a template loop: a page holds up to a few
thousand lines, and Django's template engine spends about a hundred microseconds on a row
with this many attributes, where this spends a few (bench/review_diff.py). The markup
(see templates/core/_diff.html, whose {% diff_page_rows %} and {% diff_rows %} tags
call this):

- The table has `data-path`; a unified row has `data-side` and `data-line` (the
  head's line, or the base's for a deleted one), a split row has them on each side's
  code cell.
- Every line number is a link to itself, `id` = `line_anchor(path, side, line)`.
- With a `comment_url`, every line has an "add comment" button: htmx GETs
  `<comment_url>?side=old|new&line=N&path=…` (the path from the table's `hx-vals`)
  and puts the answer into `#comment-form` (the table's `hx-target`).
- Comments under (path, side, line) in `comments` show in a row under that line, each
  thread rendered by `render_thread`; the file's other comments (outdated ones, under
  line 0) show after its last hunk.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

from django.core.cache import cache

from core.diffview.pages import CACHE_TIMEOUT_S, DiffFile
from core.git.patches import ADD, CONTEXT, DEL, DiffLine

Comments = Mapping[tuple[str, str, int], Sequence[Any]]
# (comments, outdated) -> HTML of one thread.
ThreadRenderer = Callable[[Sequence[Any], bool], str]

_EMPTY_SIDE = '<td class="pl-num pl-num--empty"></td><td class="pl-code pl-code--empty"></td>'
# The table's layout is fixed (a long file lays out in one pass), so its columns' widths
# come from here: without them they would follow the first row, a hunk header spanning
# them all, and the line numbers would take as much room as the code.
_COLUMNS = {
    "unified": '<colgroup><col class="pl-col-num"><col class="pl-col-num"><col></colgroup>',
    "split": (
        '<colgroup><col class="pl-col-num"><col class="pl-col-code">'
        '<col class="pl-col-num"><col class="pl-col-code"></colgroup>'
    ),
}
_NOEOL = '<span class="pl-noeol" title="No newline at end of file"></span>'


class _Rows:
    def __init__(
        self, file: DiffFile, comment_url: str, comments: Comments, render: ThreadRenderer
    ) -> None:
        self.file = file
        self.path = file.path
        self.comments = comments if any(k[0] == self.path for k in comments) else {}
        self.shown: set[tuple[str, str, int]] = set()
        self.render = render
        self.anchor = file.anchor
        self.link = ""
        if comment_url:
            # The path comes from the table's hx-vals, once a file rather than once a line.
            sep = "&" if "?" in comment_url else "?"
            self.link = escape(f"{comment_url}{sep}side=")

    def number(self, side: str, line: int | None) -> str:
        if line is None:
            return '<td class="pl-num"></td>'
        anchor = f"{self.anchor}-{side[0]}{line}"
        return f'<td class="pl-num"><a id="{anchor}" href="#{anchor}">{line}</a></td>'

    def code(self, line: DiffLine, side: str, number: int) -> str:
        html = (self.file.new_html if side == "new" else self.file.old_html).get(number)
        if html is None:
            html = escape(line.text, False)
        if line.no_newline:
            html += _NOEOL
        if self.link:
            html = (
                f'<button class="pl-comment" type="button" hx-get="{self.link}{side}&amp;'
                f'line={number}" aria-label="Comment">+</button>{html}'
            )
        return html

    def threads(self, side: str, line: int | None) -> str:
        if line is None or not self.comments:
            return ""
        key = (self.path, side, line)
        found = self.comments.get(key)
        if not found:
            return ""
        self.shown.add(key)
        return self.render(found, False)

    def leftovers(self) -> str:
        rest = [k for k in self.comments if k[0] == self.path and k not in self.shown]
        if not rest:
            return ""
        threads = "".join(self.render(self.comments[k], True) for k in sorted(rest))
        return (
            '<div class="pl-leftovers"><p class="muted small">'
            f"Comments on lines this diff no longer shows</p>{threads}</div>"
        )


def files_rows_html(
    files: Sequence[DiffFile],
    *,
    view: str = "unified",
    comment_url: str = "",
    comments: Comments | None = None,
    render_thread: ThreadRenderer,
) -> dict[str, str]:
    """`file_rows_html` of each of `files` with hunks, by file anchor, in one cache round
    trip. A file's rows stay cached while it has no comments: what else they show follows
    from its blobs (its `cache_key`), its path, the view and the comment URL."""
    variant = f"{view}\0{comment_url}\0"
    keys = {}
    for file in files:
        commented = comments and any(key[0] == file.path for key in comments)
        if file.cache_key and not commented:
            digest = hashlib.sha1(
                (variant + file.path).encode("utf-8", "replace"), usedforsecurity=False
            )
            keys[file.anchor] = f"{file.cache_key}:rows:{digest.hexdigest()}"
    found: dict[str, str] = cache.get_many(list(keys.values())) if keys else {}
    out: dict[str, str] = {}
    fresh: dict[str, str] = {}
    for file in files:
        if file.hunks is None:
            continue
        key = keys.get(file.anchor)
        html = found.get(key) if key else None
        if html is None:
            html = file_rows_html(
                file,
                view=view,
                comment_url=comment_url,
                comments=None if key else comments,
                render_thread=render_thread,
            )
            if key:
                fresh[key] = html
        out[file.anchor] = html
    if fresh:
        cache.set_many(fresh, CACHE_TIMEOUT_S)
    return out


def file_rows_html(
    file: DiffFile,
    *,
    view: str = "unified",
    comment_url: str = "",
    comments: Comments | None = None,
    render_thread: ThreadRenderer,
) -> str:
    """The `<table>` of `file`'s hunks in `view` ("unified" or "split"), then its
    comments that sit on no line shown."""
    rows = _Rows(file, comment_url, comments or {}, render_thread)
    layout = "split" if view == "split" else "unified"
    target = ""
    if comment_url:
        vals = escape(json.dumps({"path": file.path}))
        target = f' hx-target="#comment-form" hx-vals="{vals}"'
    out = [
        f'<table class="pl-table pl-table--{layout}" data-path="{escape(file.path)}"{target}>',
        _COLUMNS[layout],
    ]
    build = _split if view == "split" else _unified
    for hunk in file.hunks or ():
        span = 4 if view == "split" else 3
        header = escape(hunk.header, False)
        out.append(f'<tbody><tr class="pl-hunk"><td colspan="{span}">{header}</td></tr>')
        build(rows, hunk.lines, out)
        out.append("</tbody>")
    out.append("</table>")
    out.append(rows.leftovers())
    return ascii_html("".join(out))


def ascii_html(html: str) -> str:
    """`html` with every character beyond ASCII written as a character reference, which
    a browser shows alike. One such character in a page's megabyte of rows makes Python
    keep and copy the whole page at two or four bytes a character, and encode it to
    UTF-8 a character at a time: about 20 ms of a review page's 50 (bench/review.py)."""
    return html if html.isascii() else html.encode("ascii", "xmlcharrefreplace").decode("ascii")


def _unified(rows: _Rows, lines: Sequence[DiffLine], out: list[str]) -> None:
    for line in lines:
        side, number = ("old", line.old) if line.kind == DEL else ("new", line.new)
        assert number is not None
        out.append(
            f'<tr class="pl pl--{line.kind}" data-side="{side}" data-line="{number}">'
            f"{rows.number('old', line.old)}"
            f'{rows.number("new", line.new)}<td class="pl-code">'
            f"{rows.code(line, side, number)}</td></tr>"
        )
        threads = rows.threads("old", line.old) + rows.threads("new", line.new)
        if threads:
            out.append(f'<tr class="pl-thread"><td colspan="3">{threads}</td></tr>')


def _split(rows: _Rows, lines: Sequence[DiffLine], out: list[str]) -> None:
    # A run of deleted and added lines is shown as pairs: the i-th deleted line beside
    # the i-th added one.
    i, n = 0, len(lines)
    while i < n:
        if lines[i].kind == CONTEXT:
            _split_row(rows, lines[i], lines[i], out)
            i += 1
            continue
        dels: list[DiffLine] = []
        adds: list[DiffLine] = []
        while i < n and lines[i].kind != CONTEXT:
            (adds if lines[i].kind == ADD else dels).append(lines[i])
            i += 1
        for k in range(max(len(dels), len(adds))):
            _split_row(
                rows, dels[k] if k < len(dels) else None, adds[k] if k < len(adds) else None, out
            )


def _split_row(rows: _Rows, old: DiffLine | None, new: DiffLine | None, out: list[str]) -> None:
    cells = []
    for side, line in (("old", old), ("new", new)):
        number = None if line is None else (line.old if side == "old" else line.new)
        if line is None or number is None:
            cells.append(_EMPTY_SIDE)
            continue
        kind = line.kind
        cells.append(
            f'{rows.number(side, number)}<td class="pl-code pl-code--{kind}" data-side="{side}"'
            f' data-line="{number}">{rows.code(line, side, number)}</td>'
        )
    out.append(f'<tr class="pl">{cells[0]}{cells[1]}</tr>')
    left = rows.threads("old", old.old if old is not None else None)
    right = rows.threads("new", new.new if new is not None else None)
    if left or right:
        both = f'<td colspan="2">{left}</td><td colspan="2">{right}</td>'
        out.append(f'<tr class="pl-thread">{both}</tr>')
