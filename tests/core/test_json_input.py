import json
import re
import sys
from itertools import accumulate

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.json_input import (
    MAX_DEPTH,
    SURROGATE_REFUSED,
    TOO_DEEP,
    JSONInputError,
    json_depth,
    json_loads_checked,
    parsed_text_problem,
    text_problem,
)
from core.text import NUL_REFUSED, contains_nul


def nested(levels: int, leaf: str = "1") -> str:
    return "[" * levels + leaf + "]" * levels


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("[]", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('["[[[[", "}}}"]', 1),  # brackets inside strings do not count
        ('["a\\"[[[", {"k\\\\": []}]', 3),  # nor after an escaped quote
        (nested(1000), 1000),
    ],
)
def test_depth_is_counted_from_the_text(text: str, depth: int) -> None:
    assert json_depth(text) == depth


def test_the_limit_itself_is_accepted_one_more_level_is_refused() -> None:
    assert json_loads_checked(nested(MAX_DEPTH)) == json.loads(nested(MAX_DEPTH))
    with pytest.raises(JSONInputError, match="at most 64 levels"):
        json_loads_checked(nested(MAX_DEPTH + 1))
    assert TOO_DEEP == "JSON may nest at most 64 levels of arrays and objects."


def test_input_deeper_than_the_stack_is_refused_without_recursion() -> None:
    """Deeper than Python's recursion limit: json.loads alone would raise RecursionError."""
    deep = nested(sys.getrecursionlimit() * 2)
    with pytest.raises(RecursionError):
        json.loads(deep)
    with pytest.raises(JSONInputError, match="at most 64"):
        json_loads_checked(deep)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"a": "x\\u0000"}', NUL_REFUSED),
        ('{"a\\u0000": 1}', NUL_REFUSED),
        ('["\\ud800"]', SURROGATE_REFUSED),
        ('{"k": {"\\udfff": 1}}', SURROGATE_REFUSED),
        ('"tail \\uDC00"', SURROGATE_REFUSED),
        # Text that already holds the character (decoded with surrogateescape, say).
        ('["raw \ud800"]', SURROGATE_REFUSED),
        ('{"\udcff": 1}', SURROGATE_REFUSED),
    ],
)
def test_text_postgresql_cannot_store_is_refused_saying_which(text: str, problem: str) -> None:
    with pytest.raises(JSONInputError) as refused:
        json_loads_checked(text)
    assert str(refused.value) == problem


@pytest.mark.parametrize(
    "text",
    [
        '"\\ud83d\\ude00"',  # a surrogate pair is one character: 😀
        '"\\\\u0000"',  # an escaped backslash, then the letters u0000
        '"\\\\ud800"',
        '{"emoji": "😀", "accents": "déjà vu"}',
    ],
)
def test_pairs_and_escaped_backslashes_are_plain_text(text: str) -> None:
    assert json_loads_checked(text) == json.loads(text)


def test_a_malformed_body_is_a_parse_error() -> None:
    with pytest.raises(JSONInputError, match="JSON parse error"):
        json_loads_checked('{"a": ')


def test_the_walks_do_not_recurse() -> None:
    value: object = "\ud800"
    for _ in range(sys.getrecursionlimit() * 2):
        value = [value]
    assert text_problem(value) == SURROGATE_REFUSED
    assert contains_nul({"k": value}) is False
    assert contains_nul([value, {"a\x00": 1}]) is True


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"a": "x\\u0000y"}', NUL_REFUSED),
        ('{"k\\u0000": 1}', NUL_REFUSED),
        ('["\\ud800"]', SURROGATE_REFUSED),
        # A surrogate in the text itself, as text decoded with surrogateescape has it.
        ('["a\udcff"]', SURROGATE_REFUSED),
        ('["\\\\u0000", "\\ud83d\\ude00", "é"]', None),
        ('{"a": ["plain", 1, null]}', None),
    ],
)
def test_parsed_text_problem_is_text_problem_of_what_the_text_parsed_to(text, problem) -> None:
    data = json.loads(text)
    assert parsed_text_problem(text, data) == text_problem(data) == problem


def _depth_by_pattern(text: str) -> int:
    """The count the string pattern gives: what json_depth counts for any text."""
    strings = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
    structure = re.sub(r"[^\[\]{}]+", "", strings.sub("", text))
    return max(accumulate((1 if c in "[{" else -1 for c in structure), initial=0))


@pytest.mark.parametrize(
    "text",
    [
        '["a", "[[[',  # a string left open at the end opens nothing
        '[[["]"',
        '"\u00e9[" [{"\U0001f600": [1]}]',  # non-ASCII text beside the brackets
        '["\\n[", "\\t{", [[]]]',  # escapes other than a quote or a backslash
        '["\ud800[", []]',  # a lone surrogate
        "]]][[",
    ],
)
def test_depth_of_odd_text_is_what_the_string_pattern_counts(text: str) -> None:
    assert json_depth(text) == _depth_by_pattern(text)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet='[]{}"\\ a\u00e9\n\U0001f600', max_size=40))
def test_depth_of_any_text_is_what_the_string_pattern_counts(text: str) -> None:
    assert json_depth(text) == _depth_by_pattern(text)


_JSON = st.recursive(
    st.none() | st.integers() | st.text(alphabet='[]{}"\\ a\u00e9', max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(alphabet='[{"a\\', max_size=3), inner, max_size=3)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_JSON, st.booleans())
def test_depth_of_any_json_is_its_nesting(value: object, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert json_depth(text) == _depth_by_pattern(text)
