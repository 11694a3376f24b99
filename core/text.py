import re
from typing import Any, overload

from django.core.exceptions import ValidationError


def noun(plural: str, count: int) -> str:
    """The plural noun as `count` needs it: noun("tasks", 1) == "task",
    noun("dependencies", 1) == "dependency", noun("tasks", 2) == "tasks"."""
    if count != 1:
        return plural
    return plural[:-3] + "y" if plural.endswith("ies") else plural.removesuffix("s")


NUL = "\x00"
# PostgreSQL stores no NUL character in text or jsonb (SQLite does): writing one fails.
NUL_REFUSED = "Text may not contain NUL characters (\\u0000)."


def contains_nul(value: object) -> bool:
    """Whether a string, or any string or key inside nested lists and dicts, holds a NUL
    character. Walks without recursion, so no depth of nesting exhausts the stack."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if NUL in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return False


@overload
def without_nul(value: str) -> str: ...
@overload
def without_nul(value: Any) -> Any: ...
def without_nul(value: Any) -> Any:
    """`value` with every NUL character, in strings and keys inside nested lists and
    dicts, replaced by U+FFFD: for text Crewboard stores but did not choose, such as a
    tool's output."""
    if isinstance(value, str):
        return value.replace(NUL, "\ufffd")
    if isinstance(value, dict):
        return {without_nul(key): without_nul(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [without_nul(item) for item in value]
    return value


# C0 and C1 control characters and DEL: invisible in a page, a terminal or a branch name.
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")
CONTROL_CHARACTER_REFUSED = (
    "May not contain control characters (tabs, line breaks, \\u0000-\\u001f, \\u007f-\\u009f)."
)


def contains_control_character(value: str) -> bool:
    return _CONTROL_CHARACTER.search(value) is not None


def validate_no_control_characters(value: str) -> None:
    """A field validator for identifiers people type and tools echo (task keys, say)."""
    if contains_control_character(value):
        raise ValidationError(CONTROL_CHARACTER_REFUSED, code="control_character")


_DIGITS = re.compile(r"\d+")


def natural_sort_key(key: str) -> str:
    """`key` with each run of digits prefixed by its length, so text order is natural
    order: `2` < `10`, `1.2` < `1.10`, `F2-T9` < `F10-T1`. Leading zeros are dropped."""

    # Task Master's ids (`12`, subtask `12.3`), as most keys of a large import are, without
    # the pattern and a call for each run of digits.
    head, dot, tail = key.partition(".")
    if head.isdecimal():
        if not dot:
            return _number(head)
        if tail.isdecimal():
            return f"{_number(head)}.{_number(tail)}"
    return _DIGITS.sub(_number_match, key)


def _number(digits: str) -> str:
    digits = digits.lstrip("0") or "0"
    return f"{len(digits):02d}{digits}"


def _number_match(match: re.Match[str]) -> str:
    return _number(match.group())
