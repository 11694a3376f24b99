"""The installed `crewboard` console script, run as a user runs it: a separate process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import TaskFactory

SCRIPT = Path(sys.executable).with_name("crewboard")

pytestmark = pytest.mark.skipif(
    not SCRIPT.exists(), reason=f"{SCRIPT} is not installed: run `pip install -e .`"
)


@pytest.fixture
def run(config_home):
    def crewboard(*args: str) -> subprocess.CompletedProcess[str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("CREWBOARD_")}
        env["XDG_CONFIG_HOME"] = str(config_home)
        return subprocess.run(
            [str(SCRIPT), *map(str, args)], capture_output=True, text=True, env=env, timeout=60
        )

    return crewboard


def test_log_in_choose_a_project_and_take_the_next_task(run, server, token, board):
    assert run("login", server, "--token", token).returncode == 0
    assert run("use", "crewboard").returncode == 0
    nothing = run("next", "--json")
    assert (nothing.returncode, nothing.stdout) == (3, "")
    TaskFactory(project=board, key="T1", name="First")
    ready = run("next", "--json")
    assert ready.returncode == 0, ready.stderr
    assert json.loads(ready.stdout)["key"] == "T1"
    listed = run("list", "--json")
    assert [t["key"] for t in json.loads(listed.stdout)["results"]] == ["T1"]


def test_errors_are_one_line_with_their_exit_code(run, server):
    bad_url = run("login", "not a url", "--token", "x")
    assert bad_url.returncode == 2 and bad_url.stderr.count("\n") == 1
    assert bad_url.stderr.startswith("crewboard: not a url is not a server URL")
    bad_token = run("login", server, "--token", "wrong")
    assert bad_token.returncode == 1
    assert bad_token.stderr == (
        f"crewboard: The token was refused by {server} (401): "
        f"run `crewboard login {server}` again.\n"
    )
    usage = run("next", "--no-such-option")
    assert usage.returncode == 2 and "No such option" in usage.stderr


def test_startup_imports_neither_django_nor_rich():
    """`crewboard next --json` stays quick: no server code, and rich only when drawing."""
    probe = (
        "import sys; import cli.main; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'django', 'rest_framework', "
        "'rich', 'httpx2', 'config', 'planning', 'agents', 'memory', 'core'}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert loaded.stdout.strip() == "[]"
