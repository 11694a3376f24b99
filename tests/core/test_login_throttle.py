"""Failed logins are throttled per account and per client address (django-axes)."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture
def limit(settings) -> int:
    return int(settings.AXES_FAILURE_LIMIT)


def log_in(username: str, password: str, address: str = "203.0.113.1"):
    return Client(REMOTE_ADDR=address).post(
        reverse("login"), {"username": username, "password": password}
    )


def test_an_account_is_locked_after_too_many_failures_from_anywhere(limit: int) -> None:
    UserFactory(username="alice", password=PASSWORD)
    for attempt in range(limit - 1):
        assert log_in("alice", "wrong", address=f"203.0.113.{attempt + 10}").status_code == 200

    locked = log_in("alice", "wrong", address="203.0.113.99")
    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.content
    # The right password no longer opens it, from any address, until the lock ends.
    assert log_in("alice", PASSWORD, address="198.51.100.7").status_code == 429


def test_an_address_is_locked_after_too_many_failures_on_any_account(limit: int) -> None:
    UserFactory(username="bob", password=PASSWORD)
    for attempt in range(limit):
        log_in(f"guess{attempt}", "wrong", address="203.0.113.50")

    assert log_in("bob", PASSWORD, address="203.0.113.50").status_code == 429
    assert log_in("bob", PASSWORD, address="203.0.113.51").status_code == 302  # logged in


def test_a_success_clears_the_failures(limit: int) -> None:
    UserFactory(username="carol", password=PASSWORD)
    for _ in range(limit - 1):
        log_in("carol", "wrong")
    assert log_in("carol", PASSWORD).status_code == 302
    for _ in range(limit - 1):
        log_in("carol", "wrong")
    assert log_in("carol", PASSWORD).status_code == 302


def test_the_admin_login_is_throttled_too(limit: int) -> None:
    UserFactory(username="root", password=PASSWORD, is_staff=True, is_superuser=True)
    client = Client(REMOTE_ADDR="203.0.113.80")
    for _ in range(limit):
        client.post(reverse("admin:login"), {"username": "root", "password": "wrong"})

    locked = client.post(reverse("admin:login"), {"username": "root", "password": PASSWORD})
    assert locked.status_code == 429
