"""JSON from outside (request bodies, imported files), refused when Crewboard could not
store or read it: text with a NUL character or a lone surrogate, or nesting deeper than
`MAX_DEPTH`. Nothing here recurses, so no input can exhaust the stack."""

import json
import re
from itertools import accumulate
from typing import Any

from core.text import NUL, NUL_REFUSED

# Deeper than any plan, report or state an agent writes; a limit keeps every reader of
# the stored value (serializers, exporters, diffs) within Python's recursion limit.
MAX_DEPTH = 64

TOO_DEEP = f"JSON may nest at most {MAX_DEPTH} levels of arrays and objects."
SURROGATE_REFUSED = (
    "Text may not contain lone surrogates (\\ud800-\\udfff without their pair): "
    "they are not Unicode characters."
)

# A JSON string, unrolled so that a long one is matched without backtracking.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
# Only an escape can put a NUL or a surrogate into a parsed string: JSON text refuses a
# raw control character, and UTF-8 has no form for a surrogate.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONInputError(ValueError):
    """JSON that is malformed, nested too deep, or holds text that cannot be stored."""


def json_depth(text: str) -> int:
    """How deep arrays and objects nest in the JSON `text`, counted without parsing it.

    Brackets inside strings do not count; in malformed text the count is a best guess."""
    structure = _NOT_BRACKET.sub("", _STRING.sub("", text))
    steps = (1 if bracket in "[{" else -1 for bracket in structure)
    return max(accumulate(steps, initial=0))


def text_problem(value: object) -> str | None:
    """Why a string, or any string or key inside nested lists and dicts, cannot be
    stored: NUL_REFUSED, SURROGATE_REFUSED, or None when it can."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if NUL in item:
                return NUL_REFUSED
            if not item.isascii() and _SURROGATE.search(item):
                return SURROGATE_REFUSED
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return None


def parsed_text_problem(text: str, data: object) -> str | None:
    """text_problem(data) for `data` parsed from the JSON `text`, looking through it only
    when the text could have put a NUL or a lone surrogate there: an escape that writes
    one, or a surrogate in the text itself (text decoded with `surrogateescape`, say).
    A raw NUL cannot get in: JSON refuses control characters inside strings."""
    if _SUSPECT_ESCAPE.search(text) or _holds_surrogate(text):
        return text_problem(data)
    return None


def _holds_surrogate(text: str) -> bool:
    # Strict UTF-8 fails on a surrogate and on nothing else, and runs several times
    # faster than a search for one.
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def json_loads_checked(text: str, **options: Any) -> Any:
    """Parse JSON `text` (options go to json.loads), refusing what Crewboard cannot store.

    Raises JSONInputError saying which: malformed JSON, TOO_DEEP, NUL_REFUSED or
    SURROGATE_REFUSED."""
    if json_depth(text) > MAX_DEPTH:
        raise JSONInputError(TOO_DEEP)
    try:
        data = json.loads(text, **options)
    except ValueError as exc:
        raise JSONInputError(f"JSON parse error - {exc}") from None
    problem = parsed_text_problem(text, data)
    if problem:
        raise JSONInputError(problem)
    return data
