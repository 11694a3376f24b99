"""`crewboard login`, `use`, `projects`, `project create`, and the messages for a bad URL,
an unreachable server or a bad token."""

import socket
import stat
import tomllib

from planning.models import Project


def _config(config_home):
    path = config_home / "crewboard" / "config.toml"
    return path, tomllib.loads(path.read_text())


def test_login_with_a_token_stores_it_owner_only(crewboard, server, token, board, config_home):
    outcome = crewboard("login", server + "/", "--token", token, "--json")
    assert outcome.exit_code == 0, outcome.stderr
    path, stored = _config(config_home)
    assert stored == {"url": server, "token": token}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert outcome.json() == {
        "url": server,
        "username": None,
        "projects": 1,
        "config": str(path),
    }


def test_login_asks_for_a_username_and_password(crewboard, server, person, config_home):
    outcome = crewboard("login", server, input="alice\ns3cret-pass\n")
    assert outcome.exit_code == 0, outcome.stderr
    assert f"Logged in to {server} as alice; 0 project(s)" in outcome.stderr
    assert "s3cret-pass" not in outcome.stdout + outcome.stderr
    assert _config(config_home)[1]["token"] == person.auth_token.key


def test_a_wrong_password_or_token_is_one_clear_line_and_stores_nothing(
    crewboard, server, person, config_home
):
    wrong = crewboard("login", server, "--username", "alice", input="nope\n")
    assert wrong.exit_code == 1
    assert wrong.stderr == (
        "Password: \ncrewboard: Unable to log in with provided credentials. (400)\n"
    )
    bad_token = crewboard("login", server, "--token", "not-a-token")
    assert bad_token.exit_code == 1
    assert bad_token.stderr == (
        f"crewboard: The token was refused by {server} (401): "
        f"run `crewboard login {server}` again.\n"
    )
    assert not (config_home / "crewboard" / "config.toml").exists()


def test_a_bad_url_or_an_unreachable_server_is_one_clear_line(crewboard, server, token):
    bad = crewboard("login", "localhost:8000", "--token", token)
    assert (bad.exit_code, bad.stderr) == (
        2,
        "crewboard: localhost:8000 is not a server URL; give one like http://127.0.0.1:8000.\n",
    )
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    unreachable = crewboard("login", f"http://127.0.0.1:{port}", "--token", token)
    assert unreachable.exit_code == 1
    assert unreachable.stderr.startswith(
        f"crewboard: Cannot reach Crewboard at http://127.0.0.1:{port}: "
    )
    assert unreachable.stderr.count("\n") == 1
    # A web server that is not Crewboard's API (here: a page of Crewboard outside the API).
    elsewhere = crewboard("login", f"{server}/healthz", "--token", token)
    assert elsewhere.exit_code == 1
    assert elsewhere.stderr.count("\n") == 1 and "Traceback" not in elsewhere.stderr


def test_a_token_revoked_after_login_gets_a_clear_line(crewboard, logged_in, person, server):
    person.auth_token.delete()
    outcome = crewboard("projects")
    assert outcome.exit_code == 1
    assert outcome.stderr == (
        f"crewboard: The token was refused by {server} (401): "
        f"run `crewboard login {server}` again.\n"
    )


def test_not_logged_in_says_so(crewboard, server, board):
    no_server = crewboard("projects")
    assert (no_server.exit_code, no_server.stderr) == (
        2,
        "crewboard: No server: run `crewboard login URL`, or set CREWBOARD_URL.\n",
    )
    no_token = crewboard("projects", env={"CREWBOARD_URL": server})
    assert no_token.exit_code == 1
    assert no_token.stderr == (
        f"crewboard: Not logged in to {server}: run `crewboard login {server}`.\n"
    )


def test_projects_lists_mine_as_the_api_does(crewboard, logged_in, stranger_project):
    listed = crewboard("projects", "--json")
    assert listed.exit_code == 0
    page = listed.json()
    assert page["count"] == 1 and [p["slug"] for p in page["results"]] == ["crewboard"]
    assert set(page) == {"count", "next", "previous", "results"}
    table = crewboard("projects")
    assert "crewboard" in table.stdout and "bobs" not in table.stdout


def test_project_create_and_use(crewboard, server, token, person, config_home):
    crewboard("login", server, "--token", token)
    created = crewboard(
        "project", "create", "Shop front", "--description", "The web shop", "--json"
    )
    assert created.exit_code == 0, created.stderr
    assert created.json()["slug"] == "shop-front" and created.json()["owner"] == "alice"
    assert Project.objects.get(slug="shop-front").memberships.get().user == person
    again = crewboard("project", "create", "Shop front", "--slug", "shop-front")
    assert again.exit_code == 1 and "slug" in again.stderr
    used = crewboard("use", "shop-front")
    assert used.exit_code == 0
    assert used.stderr == "Default project: shop-front (Shop front).\n"
    assert _config(config_home)[1]["project"] == "shop-front"


def test_use_refuses_a_project_i_am_not_a_member_of(crewboard, logged_in, stranger_project):
    outcome = crewboard("use", "bobs", "--json")
    assert (outcome.exit_code, outcome.stderr) == (
        1,
        "crewboard: No project 'bobs' that you are a member of.\n",
    )
    assert crewboard("use", "crewboard", "--json").json()["slug"] == "crewboard"


def test_a_command_needing_a_project_without_one_is_a_usage_error(crewboard, server, token):
    crewboard("login", server, "--token", token)
    outcome = crewboard("next")
    assert outcome.exit_code == 2
    assert "pass --project SLUG" in outcome.stderr
