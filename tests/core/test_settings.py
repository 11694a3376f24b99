import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app as celery_app


def _manage_check(*options: str, **env_overrides: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **env_overrides}
    # Explicit values, because an empty string in the environment also wins over .env.
    return subprocess.run(
        [sys.executable, "manage.py", "check", *options],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_start_without_secret_key_fails_with_a_clear_message():
    result = _manage_check(DEBUG="false", SECRET_KEY="")

    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is not set" in result.stderr


def test_production_start_with_a_secret_key_succeeds():
    result = _manage_check(DEBUG="false", SECRET_KEY="a-long-random-production-key-0123456789")

    assert result.returncode == 0, result.stderr


PRODUCTION = {"DEBUG": "false", "SECRET_KEY": "kV3p-" + "q8Zr2mT0wX9sL4nB7yC1dF6gH5jA3eU" * 2}


def test_deploy_check_is_clean_over_https():
    result = _manage_check("--deploy", "--fail-level", "WARNING", HTTPS="true", **PRODUCTION)

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_deploy_check_warns_about_plain_http():
    # What HTTPS=true switches on: without it, the check names each of them.
    result = _manage_check("--deploy", "--fail-level", "WARNING", HTTPS="false", **PRODUCTION)

    assert result.returncode != 0
    for warning in ("W004", "W008", "W012", "W016"):
        assert f"security.{warning}" in result.stderr


def test_development_start_without_secret_key_succeeds():
    result = _manage_check(DEBUG="true", SECRET_KEY="")

    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
def test_sqlite_runs_with_wal_foreign_keys_and_a_busy_timeout():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA foreign_keys")
        assert cursor.fetchone()[0] == 1
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] == settings.DATABASES["default"]["OPTIONS"]["timeout"] * 1000


@pytest.mark.django_db
def test_postgresql_uses_a_connection_pool():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    pool_options = connection.settings_dict["OPTIONS"]["pool"]

    assert pool_options["max_size"] == settings.DATABASES["default"]["OPTIONS"]["pool"]["max_size"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert connection.pool is not None
    assert connection.pool.max_size == pool_options["max_size"]


def test_celery_runs_with_reliable_defaults():
    conf = celery_app.conf

    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.accept_content == ["json"]
    assert conf.task_serializer == "json"
    assert conf.result_serializer == "json"
    assert 0 < conf.task_soft_time_limit < conf.task_time_limit
    assert conf.broker_url == settings.CELERY_BROKER_URL


def test_a_github_api_url_that_is_not_a_url_is_refused_at_start():
    result = _manage_check(DEBUG="true", GITHUB_API_URL="api.github.com")

    assert result.returncode != 0
    assert "GITHUB_API_URL must be an http(s) URL" in result.stderr


def test_github_hosts_are_a_list_of_lower_case_hosts():
    done = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; import django; "
         "django.setup(); print(settings.GITHUB_WEB_HOSTS)"],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DEBUG": "true", "GITHUB_WEB_HOSTS": "GitHub.com,ghe.example.com:8443",
             "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.stdout.strip() == "['github.com', 'ghe.example.com:8443']", done.stderr
