import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.text import natural_sort_key


@pytest.mark.parametrize(
    "ordered",
    [
        ["1", "2", "10", "1072"],
        ["1", "1.1", "1.2", "1.10", "2", "10"],
        ["F2-T9", "F10-T1", "F10-T2"],
        ["ui:2", "ui:10"],
    ],
)
def test_keys_sort_naturally(ordered):
    assert sorted(reversed(ordered), key=natural_sort_key) == ordered


def test_a_key_of_fifty_digits_fits_the_column():
    assert len(natural_sort_key("1." * 25)) <= 150


def _sort_key_by_pattern(key: str) -> str:
    def number(match: re.Match[str]) -> str:
        digits = match.group().lstrip("0") or "0"
        return f"{len(digits):02d}{digits}"

    return re.sub(r"\d+", number, key)


@pytest.mark.parametrize("key", ["12", "12.3", "007", "0.0", "12.", ".3", "1.2.3", "ui:12.3", ""])
def test_task_master_ids_sort_as_any_key(key):
    assert natural_sort_key(key) == _sort_key_by_pattern(key)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789.:-F\u0661", max_size=12))
def test_every_key_sorts_by_its_runs_of_digits(key):
    assert natural_sort_key(key) == _sort_key_by_pattern(key)
