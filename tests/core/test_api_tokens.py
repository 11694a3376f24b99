import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/auth/token/"


def test_a_username_and_password_get_the_persons_token(project, user):
    user.set_password("s3cret-pass")
    user.save()
    client = APIClient()
    first = client.post(URL, {"username": "alice", "password": "s3cret-pass"}, format="json")
    assert first.status_code == 200
    assert first.data == {"token": Token.objects.get(user=user).key, "username": "alice"}
    # The same token again: a second machine does not sign the first one out.
    again = client.post(URL, {"username": "alice", "password": "s3cret-pass"}, format="json")
    assert again.data["token"] == first.data["token"]
    projects = client.get("/api/v1/projects/", HTTP_AUTHORIZATION=f"Token {first.data['token']}")
    assert [p["slug"] for p in projects.data["results"]] == ["crewboard"]


def test_a_wrong_password_or_inactive_user_gets_400_and_no_token(user):
    user.set_password("s3cret-pass")
    user.save()
    gone_user = UserFactory(username="gone", is_active=False)
    gone_user.set_password("s3cret-pass")
    gone_user.save()
    client = APIClient()
    wrong = client.post(URL, {"username": "alice", "password": "nope"}, format="json")
    assert wrong.status_code == 400
    assert "Unable to log in" in wrong.data["non_field_errors"][0]
    assert client.post(URL, {"username": "alice"}, format="json").status_code == 400
    gone = client.post(URL, {"username": "gone", "password": "s3cret-pass"}, format="json")
    assert gone.status_code == 400
    assert not Token.objects.exists()
