"""Task names tidied on import (planning/importers/titles.py)."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planning.importers.titles import clean_task_name


def _cleaned_by_pattern(name: str) -> str:
    marker = re.compile(r"^(?:\s*(?:[-*+\u2022]|\d+[.)])\s+)+")
    colons = re.compile(r"\s*:+\s*$")
    cleaned = colons.sub("", marker.sub("", name)).strip()
    return cleaned or name.strip()


@pytest.mark.parametrize(
    ("name", "cleaned"),
    [
        ("- Add login:", "Add login"),
        ("1. Add login", "Add login"),
        ("\u2022 Add login", "Add login"),
        ("Add login", "Add login"),
        ("Add login:\n", "Add login"),
        ("\u00a0Add login", "Add login"),
        ("Task 12", "Task 12"),
        ("-", "-"),
        ("", ""),
    ],
)
def test_list_markers_and_trailing_colons_are_taken_off(name, cleaned):
    assert clean_task_name(name) == cleaned


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=" \t\n\u00a0-*+\u2022.):1\u0661\u00b2aZ", max_size=12))
def test_any_name_is_cleaned_as_the_patterns_say(name):
    assert clean_task_name(name) == _cleaned_by_pattern(name)
