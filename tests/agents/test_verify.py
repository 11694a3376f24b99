"""Which commands a task's `verify` holds: GSD's <verify> often names one in backticks."""

import pytest

from agents.services.verify import commands_in


@pytest.mark.parametrize(
    ("text", "commands"),
    [
        ("Run `pytest tests/test_api.py -q` and see it pass", ["pytest tests/test_api.py -q"]),
        ("`python3 -m unittest` passes; `src/app.py` exports `main`", ["python3 -m unittest"]),
        ("```sh\n# the checks\nmake lint\nmake test\n```", ["make lint", "make test"]),
        ("python3 -m unittest discover", ["python3 -m unittest discover"]),
        ("The page looks right to a person.", []),
        ("Open `settings.py` and check `DEBUG` is off", []),
        ("", []),
        ("`unbalanced 'quote`", []),
    ],
)
def test_the_commands_a_verify_holds(text, commands, tmp_path):
    assert commands_in(text, cwd=tmp_path) == commands


def test_a_script_of_the_worktree_counts_as_a_command(tmp_path):
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "check.sh").write_text("#!/bin/sh\n")
    assert commands_in("Run `scripts/check.sh --fast`", cwd=tmp_path) == ["scripts/check.sh --fast"]
    assert commands_in("Run `scripts/missing.sh`", cwd=tmp_path) == []
