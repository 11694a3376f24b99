import re
from typing import Any, overload


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
    character."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(contains_nul(key) or contains_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(contains_nul(item) for item in value)
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


_DIGITS = re.compile(r"\d+")


def natural_sort_key(key: str) -> str:
    """`key` with each run of digits prefixed by its length, so text order is natural
    order: `2` < `10`, `1.2` < `1.10`, `F2-T9` < `F10-T1`. Leading zeros are dropped."""

    def number(match: re.Match[str]) -> str:
        digits = match.group().lstrip("0") or "0"
        return f"{len(digits):02d}{digits}"

    return _DIGITS.sub(number, key)
