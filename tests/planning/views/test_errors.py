import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_missing_page_inside_a_project_keeps_its_tabs_and_a_way_back(browser, project):
    response = browser.get(f"/projects/{project.slug}/versions/999999/")
    assert response.status_code == 404
    html = response.content.decode()
    assert 'aria-label="Project"' in html
    assert f'href="/projects/{project.slug}/"' in html
    assert f"Back to {project.name}" in html


def test_a_missing_address_under_a_project_that_does_not_resolve_still_finds_it(browser, project):
    response = browser.get(f"/projects/{project.slug}/no-such-tab/")
    assert response.status_code == 404
    assert f"Back to {project.name}" in response.content.decode()


def test_strangers_learn_nothing_about_the_project(client, other_project):
    client.force_login(UserFactory())
    response = client.get(f"/projects/{other_project.slug}/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Someone else" not in html
    assert 'aria-label="Project"' not in html
    assert 'href="/projects/">All projects' in html


def test_anonymous_readers_are_offered_the_login(client):
    response = client.get("/nowhere/")
    assert response.status_code == 404
    assert "/accounts/login/?next=/nowhere/" in response.content.decode()


def test_api_addresses_stay_json(browser):
    response = browser.get("/api/v1/nowhere/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found"}


def test_forbidden_says_why_and_keeps_the_project(client, project, viewer):
    client.force_login(viewer)
    response = client.post(f"/projects/{project.slug}/settings/", {"name": "renamed"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "Viewers cannot change this project." in html
    assert f"Back to {project.name}" in html
