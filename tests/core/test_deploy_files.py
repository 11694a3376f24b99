"""The files that start Crewboard outside the test suite: docker-compose.yml, the
Dockerfile and the Procfile. No container engine runs here, so they are read, not run."""

import re
from pathlib import Path

import yaml
from django.conf import settings

BASE = Path(settings.BASE_DIR)


def compose() -> dict:
    # safe_load resolves the anchors and merge keys (`<<: *app`) as docker compose does.
    return yaml.safe_load((BASE / "docker-compose.yml").read_text())


def test_the_app_runs_as_a_role_that_does_not_own_the_tables() -> None:
    services = compose()["services"]
    for name in ("web", "worker", "beat"):
        url = services[name]["environment"]["DATABASE_URL"]
        assert url.startswith("postgres://crewboard_app:"), name
        assert services[name]["restart"] == "unless-stopped"
    migrate = services["migrate"]
    assert migrate["environment"]["DATABASE_URL"].startswith("postgres://crewboard_owner:")
    assert migrate["command"] == ["python", "manage.py", "bootstrap"]
    assert migrate["restart"] == "no"
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
    # Everything else in the app's environment is the same for the migrations.
    web_env = dict(services["web"]["environment"], DATABASE_URL="")
    assert dict(migrate["environment"], DATABASE_URL="") == web_env


def test_the_database_creates_both_roles_on_first_start() -> None:
    db = compose()["services"]["db"]
    host_dir, mount = db["volumes"][1].split(":")[:2]
    assert mount == "/docker-entrypoint-initdb.d"
    script = (BASE / host_dir / "01-roles.sql").read_text()
    assert "CREATE ROLE crewboard_owner" in script
    assert "CREATE ROLE crewboard_app" in script
    assert 'ALTER DATABASE :"database" OWNER TO crewboard_owner' in script
    grants = re.findall(r"GRANT ([A-Z, ]+) ON TABLES TO crewboard_app", script)
    assert grants == ["SELECT, INSERT, UPDATE, DELETE"]
    assert {"CREWBOARD_OWNER_PASSWORD", "CREWBOARD_APP_PASSWORD"} <= db["environment"].keys()
    assert "crewboard_app" in db["healthcheck"]["test"][1]


def test_every_gunicorn_has_a_control_socket_of_its_own() -> None:
    # Its default, ~/.gunicorn/gunicorn.ctl, is shared by every gunicorn a user starts.
    commands = [line for line in (BASE / "Procfile").read_text().splitlines() if "gunicorn" in line]
    commands.append((BASE / "Dockerfile").read_text().split("CMD", 1)[1])
    commands.append(" ".join(compose()["services"]["web"]["command"]))
    assert len(commands) == 3
    for command in commands:
        assert re.search(r"--control-socket[ =\"',]+\S*gunicorn\.ctl", command), command
    procfile = (BASE / "Procfile").read_text()
    assert "--control-socket ${GUNICORN_CONTROL_SOCKET:-var/gunicorn.ctl}" in procfile
    assert 'GUNICORN_CONTROL_SOCKET="$TMP/' in (BASE / "e2e" / "run.sh").read_text()
