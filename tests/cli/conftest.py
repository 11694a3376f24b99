"""The CLI against a live test server: real HTTP, the real database, no mocks."""

import json
from dataclasses import dataclass

import pytest
from click.testing import CliRunner
from rest_framework.authtoken.models import Token

from cli.main import app
from tests.factories import ProjectFactory, UserFactory


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


@pytest.fixture(autouse=True)
def config_home(tmp_path, monkeypatch):
    """The CLI's config goes to the test's own folder; the developer's never counts."""
    home = tmp_path / "config-home"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    for name in ("CREWBOARD_URL", "CREWBOARD_TOKEN", "CREWBOARD_PROJECT", "CREWBOARD_AGENT_KEY"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def crewboard():
    """Runs `crewboard ARGS…` in-process; returns its exit code, stdout and stderr."""

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Outcome:
        result = CliRunner().invoke(app, [str(a) for a in args], input=input, env=env)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Outcome(result.exit_code, result.stdout, result.stderr)

    return run


@pytest.fixture
def server(append_only_rows_cleared, live_server):
    return live_server.url


@pytest.fixture
def person(server):
    user = UserFactory(username="alice")
    user.set_password("s3cret-pass")
    user.save()
    return user


@pytest.fixture
def token(person):
    return Token.objects.create(user=person).key


@pytest.fixture
def board(person):
    return ProjectFactory(owner=person, name="Crewboard", slug="crewboard")


@pytest.fixture
def logged_in(crewboard, server, token, board):
    """Logged in, with `crewboard` as the default project."""
    assert crewboard("login", server, "--token", token).exit_code == 0
    assert crewboard("use", "crewboard").exit_code == 0
    return board


@pytest.fixture
def stranger_project(server):
    return ProjectFactory(owner=UserFactory(username="bob"), name="Bob's", slug="bobs")
