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
    data = text.encode("utf-8", "surrogatepass")
    if b"\\\\" in data or b'\\"' in data:
        # An escaped quote or backslash: only the string pattern tells where strings end.
        structure = _NOT_BRACKET.sub("", _STRING.sub("", text))
        steps = (1 if bracket in "[{" else -1 for bracket in structure)
    else:
        steps = (1 if byte in b"[{" else -1 for byte in _outside_strings(data))
    return max(accumulate(steps, initial=0))


# Every byte but the brackets and the quote. UTF-8 writes a non-ASCII character in bytes
# of 0x80 and above only, so the bytes kept are exactly the text's brackets and quotes.
_NOT_BRACKET_OR_QUOTE = bytes(b for b in range(256) if b not in b'[]{}"')


def _outside_strings(data: bytes) -> bytes:
    """The brackets of UTF-8 `data` outside its strings, as _STRING finds them, for data
    without an escaped quote or backslash: there, a string runs from a quote to the next
    one, and a quote left without a partner at the end opens none. Byte operations, which
    run several times faster than the pattern over a large file."""
    marks = data.translate(None, _NOT_BRACKET_OR_QUOTE)
    # Most strings hold no bracket and are left as `""` here. Where taking those pairs out
    # leaves no quote, every string was one: in a single pass the first quote can only go
    # with the second, the third with the fourth, and so on.
    structure = marks.replace(b'""', b"")
    if b'"' not in structure:
        return structure
    pieces = marks.split(b'"')
    outside = pieces[::2]  # the pieces between a closing and the next opening quote
    if len(pieces) % 2 == 0:
        outside.append(pieces[-1])
    return b"".join(outside)


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
