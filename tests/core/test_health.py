import threading

import pytest
from django.db import connection, connections
from django.db.migrations.recorder import MigrationRecorder

from config.celery import app as celery_app
from tests.hang import HANG_S


def test_healthz_answers_without_touching_the_database(client):
    # No django_db mark: any query here would raise, so a 200 proves liveness needs nothing else.
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_is_ok_when_database_migrations_and_broker_are(client):
    response = client.get("/readyz")

    assert response.status_code == 200, response.json()
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "migrations": "ok", "broker": "ok"},
    }


def broker_unreachable(monkeypatch) -> None:
    """Point the project's Celery app at a Redis where nothing listens (port 1), with the
    transport the URL names (the embedded default names its filesystem one explicitly)."""
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    monkeypatch.setitem(celery_app.conf, "broker_transport", None)


@pytest.mark.django_db(transaction=True)
def test_readyz_checks_the_projects_broker_from_a_request_thread(client, monkeypatch):
    # runserver and threaded gunicorn workers answer on threads other than the one that
    # loaded Django, where a Celery app that is only "current" per thread would not be.
    broker_unreachable(monkeypatch)
    responses = []

    def get() -> None:
        try:
            responses.append(client.get("/readyz"))
        finally:
            connections.close_all()

    thread = threading.Thread(target=get)
    thread.start()
    thread.join(timeout=HANG_S)

    assert responses[0].status_code == 503
    assert "127.0.0.1:1" in responses[0].json()["checks"]["broker"]


@pytest.mark.django_db
def test_readyz_is_503_naming_the_broker_when_it_is_unreachable(client, monkeypatch):
    # Nothing listens on port 1; the check must give up quickly and say why.
    broker_unreachable(monkeypatch)

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["migrations"] == "ok"
    assert body["checks"]["broker"] != "ok"
    assert "Error" in body["checks"]["broker"]


@pytest.mark.django_db
def test_readyz_is_503_naming_an_unapplied_migration(client):
    recorder = MigrationRecorder(connection)
    latest = recorder.migration_qs.order_by("-id").first()
    latest.delete()  # rolled back with the test transaction

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"] == "ok"
    assert "1 unapplied migration(s)" in body["checks"]["migrations"]
    assert f"{latest.app}.{latest.name}" in body["checks"]["migrations"]


def test_favicon_is_the_dashboards_icon(client, browser):
    from django.contrib.staticfiles import finders

    response = client.get("/favicon.ico")
    assert response.status_code == 302  # not cached for good: the target's name changes
    assert client.head("/favicon.ico").status_code == 302
    assert response["Location"].endswith("/img/favicon.svg")
    assert finders.find("img/favicon.svg")
    page = browser.get("/", follow=True).content.decode()
    assert 'rel="icon" href="/static/img/favicon.svg"' in page
