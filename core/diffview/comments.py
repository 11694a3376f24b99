"""Where a review comment sits in the current diff: still on its line, or outdated.

A comment is stored with the file's path, the side ("old" for the base, "new" for the
head), the line number and that line's text when it was written. After new commits the
same number may hold other text, or the line may no longer be in the diff; like GitHub,
the comment is then outdated and shown apart from the lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

from core.diffview.pages import DiffFile, DiffPage

SIDES = ("old", "new")


class StoredComment(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def side(self) -> str: ...
    @property
    def line(self) -> int: ...
    @property
    def line_text(self) -> str: ...


C = TypeVar("C", bound=StoredComment)


def line_text_at(file: DiffFile | None, *, side: str, line: int) -> str | None:
    """The text of line `line` on `side` as the file's hunks show it, or None when the
    diff does not show that line (a comment may only be written on a line shown)."""
    if file is None or not file.hunks or side not in SIDES:
        return None
    for hunk in file.hunks:
        start, count = (
            (hunk.old_start, hunk.old_count) if side == "old" else (hunk.new_start, hunk.new_count)
        )
        if start <= line < start + count:
            for diff_line in hunk.lines:
                if (diff_line.old if side == "old" else diff_line.new) == line:
                    return diff_line.text
    return None


def comment_outdated(file: DiffFile | None, *, side: str, line: int, line_text: str) -> bool:
    """Whether a comment written on `line` of `side`, which then read `line_text`, no
    longer sits on that line in this diff of the file (gone, or other text)."""
    return line_text_at(file, side=side, line=line) != line_text


def comments_by_anchor(
    page: DiffPage, comments: Iterable[C]
) -> dict[tuple[str, str, int], list[C]]:
    """The comments on this page's files, for the diff template's `comments_by_anchor`:
    each under its (path, side, line) while it still sits there, an outdated one under
    (path, side, 0), which the template shows after the file's lines."""
    files = {f.path: f for f in page.files}
    grouped: dict[tuple[str, str, int], list[C]] = {}
    for comment in comments:
        file = files.get(comment.path)
        if file is None:
            continue
        outdated = comment_outdated(
            file, side=comment.side, line=comment.line, line_text=comment.line_text
        )
        key = (comment.path, comment.side, 0 if outdated else comment.line)
        grouped.setdefault(key, []).append(comment)
    return grouped
