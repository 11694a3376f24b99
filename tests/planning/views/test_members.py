"""The members page: everyone sees the members; owners add and remove them and change
their roles, and the last owner stays."""

import re

import pytest

from planning.models import ProjectMembership
from tests.factories import MembershipFactory, UserFactory
from tests.planning.views.pages import page_messages, url

pytestmark = pytest.mark.django_db


def role_of(project, user) -> str | None:
    membership = ProjectMembership.objects.filter(project=project, user=user).first()
    return membership.role if membership else None


def test_the_settings_page_links_to_the_members(browser, project):
    html = browser.get(url("project-settings")).content.decode()
    assert f'href="{url("project-members")}"' in html


def test_owners_see_every_member_with_controls(
    browser, project, viewer, django_assert_max_num_queries
):
    for n in range(5):
        MembershipFactory(project=project, role="editor", user=UserFactory(username=f"ed{n}"))
    # session, user, membership with its project, the members with their users
    with django_assert_max_num_queries(4):
        response = browser.get(url("project-members"))
    html = response.content.decode()
    assert response.status_code == 200
    for name in ("alice", "vic", "ed0", "ed4"):
        assert f"<td>{name}" in html, name
    assert html.count("Change role") == 7
    assert "Add member" in html
    assert "<script>" not in html


def test_adding_a_member(browser, project):
    bob = UserFactory(username="bob")
    response = browser.post(
        url("project-member-add"), {"username": "Bob ", "role": "viewer"}, follow=True
    )
    assert page_messages(response.content.decode()) == ["Added bob as viewer."]
    assert role_of(project, bob) == "viewer"


def test_unknown_and_inactive_users_get_the_same_answer(browser, project):
    UserFactory(username="gone", is_active=False)
    answers = []
    for name in ("nobody", "gone"):
        response = browser.post(url("project-member-add"), {"username": name, "role": "editor"})
        assert response.status_code == 400
        html = response.content.decode()
        form = html.replace(name, "NAME").split('id="member-add-form"')[1]
        answers.append(re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", form))
        assert "cannot be added. Check the username." in html
    assert answers[0] == answers[1]
    assert ProjectMembership.objects.filter(project=project).count() == 1


def test_adding_someone_twice_says_so_and_keeps_their_role(browser, project, viewer):
    response = browser.post(url("project-member-add"), {"username": "vic", "role": "owner"})
    assert response.status_code == 400
    assert "vic is already a member" in response.content.decode()
    assert role_of(project, viewer) == "viewer"


def test_changing_a_role(browser, project, viewer):
    membership = ProjectMembership.objects.get(project=project, user=viewer)
    response = browser.post(
        url("project-member-role", membership.pk), {"role": "editor"}, follow=True
    )
    assert page_messages(response.content.decode()) == ["vic is now editor."]
    assert role_of(project, viewer) == "editor"


def test_the_last_owner_cannot_step_down_or_be_removed(browser, project, user):
    membership = ProjectMembership.objects.get(project=project, user=user)
    response = browser.post(url("project-member-role", membership.pk), {"role": "viewer"})
    assert response.status_code == 409
    assert "A project needs at least one owner." in response.content.decode()
    response = browser.post(url("project-member-remove", membership.pk))
    assert response.status_code == 409
    assert "A project needs at least one owner." in response.content.decode()
    assert role_of(project, user) == "owner"


def test_removing_a_member(browser, project, viewer):
    membership = ProjectMembership.objects.get(project=project, user=viewer)
    response = browser.post(url("project-member-remove", membership.pk), follow=True)
    assert page_messages(response.content.decode()) == ["Removed vic from the project."]
    assert role_of(project, viewer) is None


def test_an_owner_who_leaves_goes_back_to_the_project_list(browser, project, user):
    MembershipFactory(project=project, role="owner", user=UserFactory(username="olga"))
    membership = ProjectMembership.objects.get(project=project, user=user)
    response = browser.post(url("project-member-remove", membership.pk))
    assert response.status_code == 302
    assert response["Location"] == "/projects/"
    assert role_of(project, user) is None


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_only_owners_change_members(client, project, user, role):
    member = MembershipFactory(project=project, role=role, user=UserFactory()).user
    client.force_login(member)
    html = client.get(url("project-members")).content.decode()
    assert "alice" in html
    assert "Change role" not in html and "Add member" not in html
    owner = ProjectMembership.objects.get(project=project, user=user)
    bob = UserFactory(username="bob")
    assert (
        client.post(url("project-member-add"), {"username": "bob", "role": "owner"}).status_code
        == 403
    )
    assert client.post(url("project-member-role", owner.pk), {"role": "viewer"}).status_code == 403
    assert client.post(url("project-member-remove", owner.pk)).status_code == 403
    assert (role_of(project, user), role_of(project, bob)) == ("owner", None)


def test_a_member_of_another_project_is_not_found(browser, project, other_project):
    stranger = MembershipFactory(project=other_project, role="viewer", user=UserFactory())
    assert browser.post(url("project-member-remove", stranger.pk)).status_code == 404
    assert (
        browser.post(url("project-member-role", stranger.pk), {"role": "owner"}).status_code == 404
    )
    assert role_of(other_project, stranger.user) == "viewer"


def test_strangers_get_404(client, other_project):
    client.force_login(UserFactory())
    assert client.get(f"/projects/{other_project.slug}/members/").status_code == 404
    response = client.post(
        f"/projects/{other_project.slug}/members/add/", {"username": "x", "role": "owner"}
    )
    assert response.status_code == 404
