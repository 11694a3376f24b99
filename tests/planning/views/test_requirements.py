"""The requirements page: each requirement with its linked features and coverage, the
uncovered ones highlighted and counted; editors add, edit, delete and link there."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from planning import selectors
from planning.models import Requirement
from tests.factories import FeatureFactory, RequirementFactory, TaskFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name: str, *args: object) -> str:
    return reverse(f"planning:{name}", args=["crewboard", *args])


@pytest.fixture
def viewer_browser(viewer):
    client = Client()
    client.force_login(viewer)
    return client


def rows(html: str) -> dict[str, str]:
    """Each requirement row's code and class."""
    return dict(
        (code, cls)
        for cls, code in re.findall(
            r'<tr id="requirement-\d+" class="([^"]*)"[^>]*>\s*<td class="key">([^<]+)</td>', html
        )
    )


def test_uncovered_requirements_are_highlighted_and_counted(browser, project):
    covered = RequirementFactory(project=project, code="R1", description="Log in")
    RequirementFactory(project=project, code="R2", description="Export")
    feature = FeatureFactory(project=project, key="01", name="Accounts")
    TaskFactory(project=project, feature=feature)
    covered.features.add(feature)

    html = browser.get(url("requirement-list")).content.decode()

    assert rows(html) == {
        "R1": "requirement-row",
        "R2": "requirement-row requirement-row--uncovered",
    }
    assert re.search(r'<strong id="uncovered-count">1</strong> of 2 requirements', html)
    assert (
        f'?feature={feature.pk}#feature-{feature.pk}"><span class="key">01</span> Accounts' in html
    )

    only = browser.get(url("requirement-list") + "?uncovered=1").content.decode()
    assert list(rows(only)) == ["R2"]


@pytest.mark.parametrize("n", [10, 600])
def test_the_page_costs_the_same_queries_however_many_requirements(
    browser, project, n, django_assert_max_num_queries
):
    features = [FeatureFactory(project=project) for _ in range(3)]
    requirements = Requirement.objects.bulk_create(
        Requirement(project=project, code=f"R{i:04d}", description=f"Need {i}") for i in range(n)
    )
    through = Requirement.features.through
    through.objects.bulk_create(
        through(requirement_id=r.pk, feature_id=features[i % 3].pk)
        for i, r in enumerate(requirements)
    )
    # session, user, membership, counts, the page's rows, their features, link choices
    with django_assert_max_num_queries(7):
        response = browser.get(url("requirement-list"))
    assert response.status_code == 200
    assert len(rows(response.content.decode())) == min(n, 100)


def test_editors_add_edit_and_delete_requirements(browser, project):
    form = browser.get(url("requirement-add"), **HTMX).content.decode()
    assert form.lstrip().startswith('<div class="panel item-form htmx-container">')

    added = browser.post(
        url("requirement-add"),
        {"code": "R9", "description": "Works offline", "priority": "must"},
        **HTMX,
    )
    requirement = Requirement.objects.get(project=project, code="R9")
    assert added["HX-Redirect"] == url("requirement-list") + f"#requirement-{requirement.pk}"

    refused = browser.post(url("requirement-add"), {"code": "R9", "description": "Twice"}, **HTMX)
    assert refused.status_code == 400
    assert project.requirements.count() == 1

    browser.post(
        url("requirement-edit", requirement.pk),
        {"code": "R9", "description": "Works offline, always", "priority": "should"},
    )
    requirement.refresh_from_db()
    assert (requirement.description, requirement.priority) == ("Works offline, always", "should")

    requirement.features.add(FeatureFactory(project=project))
    ask = browser.post(url("requirement-delete", requirement.pk), **HTMX).content.decode()
    assert "1 feature loses its link" in ask
    browser.post(url("requirement-delete", requirement.pk), {"confirm": "yes"})
    assert not project.requirements.exists()
    assert project.features.count() == 1


def test_features_are_linked_and_unlinked_from_the_page(browser, project, other_project):
    requirement = RequirementFactory(project=project, code="R1")
    feature = FeatureFactory(project=project, key="01")

    linked = browser.post(url("requirement-link", requirement.pk), {"feature": feature.pk})
    assert linked.status_code == 302
    assert list(requirement.features.all()) == [feature]

    stranger = FeatureFactory(project=other_project)
    refused = browser.post(url("requirement-link", requirement.pk), {"feature": stranger.pk})
    assert refused.status_code == 400
    assert 'role="alert"' in refused.content.decode()
    assert list(requirement.features.all()) == [feature]

    browser.post(url("requirement-unlink", requirement.pk, feature.pk))
    assert not requirement.features.exists()


def test_viewers_see_coverage_but_cannot_change_it(viewer_browser, project):
    requirement = RequirementFactory(project=project, code="R1")
    feature = FeatureFactory(project=project)
    page = viewer_browser.get(url("requirement-list")).content.decode()
    assert "R1" in page
    assert "Add a requirement" not in page
    assert 'name="feature"' not in page
    assert "data-reorder" not in page
    assert "Move R1 up" not in page
    for path in (
        url("requirement-add"),
        url("requirement-edit", requirement.pk),
        url("requirement-delete", requirement.pk),
        url("requirement-link", requirement.pk),
        url("requirement-unlink", requirement.pk, feature.pk),
        url("requirement-move", requirement.pk),
    ):
        assert viewer_browser.post(path, {"feature": feature.pk, "offset": 1}).status_code == 403, (
            path
        )
    assert Requirement.objects.filter(pk=requirement.pk).exists()
    assert not requirement.features.exists()


def test_strangers_do_not_find_the_page(client, other_project, project):
    requirement = RequirementFactory(project=project, code="R1")
    client.force_login(other_project.owner)
    assert client.get(url("requirement-list")).status_code == 404
    assert client.post(url("requirement-move", requirement.pk), {"offset": 1}).status_code == 404


def codes(project) -> list[str]:
    return [r.code for r in selectors.requirement_list(project=project)]


def test_requirements_move_with_the_arrows_and_by_drag(browser, project):
    first, _second, third = (
        RequirementFactory(project=project, code=code, position=n * 1024)
        for n, code in enumerate(("R1", "R2", "R3"), start=1)
    )

    page = browser.get(url("requirement-list")).content.decode()
    assert 'data-reorder="tr.requirement-row[data-move-url]" data-first-index="0"' in page
    assert f'data-move-url="{url("requirement-move", third.pk)}"' in page
    assert 'aria-label="Move R3 up"' in page

    # The arrows: plain forms, back to the list at the moved row.
    answer = browser.post(url("requirement-move", third.pk), {"offset": "-1"})
    assert answer.status_code == 302
    assert answer["Location"].endswith(f"#requirement-{third.pk}")
    assert codes(project) == ["R1", "R3", "R2"]

    # A drag posts the row's new index in the whole list, as htmx.
    dragged = browser.post(url("requirement-move", first.pk), {"index": "2"}, **HTMX)
    assert dragged.status_code == 200
    assert codes(project) == ["R3", "R2", "R1"]
    assert rows_in_order(browser.get(url("requirement-list")).content.decode()) == [
        "R3",
        "R2",
        "R1",
    ]


def rows_in_order(html: str) -> list[str]:
    return re.findall(r'<tr id="requirement-\d+"[^>]*>\s*<td class="key">([^<]+)</td>', html)


def test_a_refused_move_says_why_and_moves_nothing(browser, project):
    requirement = RequirementFactory(project=project, code="R1")
    RequirementFactory(project=project, code="R2")

    dragged = browser.post(url("requirement-move", requirement.pk), {"index": "-3"}, **HTMX)
    assert dragged.status_code == 400
    assert dragged["Content-Type"].startswith("text/plain")
    assert "Say where to move it" in dragged.content.decode()

    plain = browser.post(url("requirement-move", requirement.pk), {}, follow=True)
    assert "Say where to move it" in plain.content.decode()
    assert codes(project) == ["R1", "R2"]


def test_a_filtered_list_offers_no_moves_and_later_pages_count_from_their_start(browser, project):
    Requirement.objects.bulk_create(
        Requirement(project=project, code=f"R{i:03d}", description="x", position=i)
        for i in range(150)
    )
    second = browser.get(url("requirement-list") + "?page=2").content.decode()
    assert 'data-first-index="100"' in second
    only = browser.get(url("requirement-list") + "?uncovered=1").content.decode()
    assert "data-reorder" not in only
    assert "Move R000 up" not in only


@pytest.mark.parametrize("n", [5, 600])
def test_a_move_costs_the_same_queries_however_many_requirements(
    browser, project, n, django_assert_max_num_queries
):
    Requirement.objects.bulk_create(
        Requirement(project=project, code=f"R{i:04d}", description="x", position=0)
        for i in range(n)
    )
    last = Requirement.objects.get(project=project, code=f"R{n - 1:04d}")

    # session, user, membership, the requirement, then the move itself: with every
    # position 0, the renumbering statement and the one row, in a savepoint.
    with django_assert_max_num_queries(11):
        answer = browser.post(url("requirement-move", last.pk), {"index": "0"}, **HTMX)

    assert answer.status_code == 200
    assert codes(project)[0] == f"R{n - 1:04d}"
