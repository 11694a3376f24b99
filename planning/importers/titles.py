"""Clean titles for imported plans, whatever the format they came in.

Plan files name things loosely: a sub-feature's only title may be its objective's first
paragraph, and task names keep the list marker or colon they were written with. The
board and the task page show these names, so they are tidied once, on import.
"""

from __future__ import annotations

import re

from planning.importers.document import PlanDocument

TITLE_MAX = 80
ELLIPSIS = "\u2026"

_LIST_MARKER = re.compile(r"^(?:\s*(?:[-*+\u2022]|\d+[.)])\s+)+")
_TRAILING_COLONS = re.compile(r"\s*:+\s*$")
_MARKER_STARTS = "-*+\u2022"
# A sentence ends at . ! or ? followed by a space, unless the word is a short
# abbreviation ("e.g.", "i.e.", "vs.").
_SENTENCE_END = re.compile(r"(?<![A-Za-z]\.[A-Za-z]\.)(?<!\bvs\.)(?<=[.!?])\s+(?=\S)")
_EMPHASIS = re.compile(r"(\*\*|__|`)")


def clean_task_name(name: str) -> str:
    """`- Add login:` → `Add login`. A name that would become empty is left as it was."""
    if name:
        first, last = name[0], name[-1]
        # Neither pattern can match, nor strip() take anything, unless the name starts
        # with a space, a marker or a digit, or ends with a space or a colon.
        if not (
            first.isspace()
            or first in _MARKER_STARTS
            or first.isdigit()
            or last.isspace()
            or last == ":"
        ):
            return name
    cleaned = _TRAILING_COLONS.sub("", _LIST_MARKER.sub("", name)).strip()
    return cleaned or name.strip()


def shorten(text: str, limit: int = TITLE_MAX) -> str:
    """`text` cut at the last word boundary that fits `limit` characters, with an
    ellipsis; a single word longer than the limit is cut inside it."""
    if len(text) <= limit:
        return text
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    cut = head.rfind(" ")
    if cut > limit // 3:
        head = head[:cut]
    return head.rstrip(" ,;:.-\u2013\u2014") + ELLIPSIS


def title_from_text(text: str, limit: int = TITLE_MAX) -> str:
    """The first sentence of the first non-empty line of `text`, as a title."""
    for line in text.split("\n"):
        line = _EMPHASIS.sub("", clean_task_name(line.strip().lstrip("#").strip()))
        if line:
            sentence = _SENTENCE_END.split(line, maxsplit=1)[0].strip()
            return shorten(sentence.rstrip("."), limit) or shorten(line, limit)
    return ""


def clean_document_titles(document: PlanDocument) -> None:
    """Tidy every task name of `document` in place."""
    for task in document.tasks:
        task.name = clean_task_name(task.name)
