import pytest
from django.urls import reverse

from tests.factories import AgentFactory, MemoryFactFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def facts_url(slug: str) -> str:
    return reverse("memory:fact-list", args=[slug])


def test_anonymous_users_are_sent_to_login(client, project):
    response = client.get(facts_url(project.slug))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_someone_elses_facts_are_404(browser, other_project):
    assert browser.get(facts_url(other_project.slug)).status_code == 404


def test_fact_list_shows_what_was_learned(browser, project, other_project):
    MemoryFactFactory(
        project=project,
        subject="Test runner",
        confidence=0.9,
        body={
            "learned": "pytest needs -p no:cacheprovider",
            "confidence": 0.9,
            "source": "ci-run-42",
        },
        agent=AgentFactory(project=project, name="tester-1"),
    )
    MemoryFactFactory(project=project, subject="Old build tool", is_stale=True)
    MemoryFactFactory(project=other_project, subject="Not mine")
    MemoryFactFactory(project=None, subject="Global fact")

    html = browser.get(facts_url(project.slug)).content.decode()

    assert "Test runner" in html
    assert "pytest needs -p no:cacheprovider" in html
    assert "90%" in html
    assert "ci-run-42" in html
    assert "by tester-1" in html
    assert '<span class="badge badge--stale">stale</span>' in html
    assert "Not mine" not in html
    assert "Global fact" not in html


@pytest.mark.parametrize(
    ("stale", "shown", "hidden"),
    [("true", "Old build tool", "Fresh finding"), ("false", "Fresh finding", "Old build tool")],
)
def test_stale_filter(browser, project, stale, shown, hidden):
    MemoryFactFactory(project=project, subject="Old build tool", is_stale=True)
    MemoryFactFactory(project=project, subject="Fresh finding")

    html = browser.get(facts_url(project.slug), {"stale": stale}).content.decode()

    assert shown in html
    assert hidden not in html
    assert f'<option value="{stale}" selected>' in html


def test_unknown_stale_value_shows_everything(browser, project):
    MemoryFactFactory(project=project, subject="Old build tool", is_stale=True)
    MemoryFactFactory(project=project, subject="Fresh finding")

    html = browser.get(facts_url(project.slug), {"stale": "maybe"}).content.decode()

    assert "Old build tool" in html and "Fresh finding" in html


@pytest.mark.parametrize("stale", ["true", "false", "True", "3", "", "maybe"])
def test_stale_filter_is_the_apis_filterset(browser, api, project, stale):
    # The page's ?stale= goes through memory.filters, so it keeps exactly the facts the
    # API's ?is_stale= keeps, including the spellings only the FilterSet knows ("True", "3").
    MemoryFactFactory(project=project, subject="Old build tool", is_stale=True)
    MemoryFactFactory(project=project, subject="Fresh finding")
    api_url = f"/api/v1/projects/{project.slug}/memory-facts/"
    from_api = {fact["subject"] for fact in api.get(api_url, {"is_stale": stale}).data["results"]}

    html = browser.get(facts_url(project.slug), {"stale": stale}).content.decode()

    assert {s for s in ("Old build tool", "Fresh finding") if s in html} == from_api
    assert len(from_api) == (2 if stale in ("", "maybe") else 1)


def test_htmx_filter_returns_only_the_table(browser, project):
    MemoryFactFactory(project=project, subject="Old build tool", is_stale=True)
    MemoryFactFactory(project=project, subject="Fresh finding")

    response = browser.get(facts_url(project.slug), {"stale": "true"}, **HTMX)

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="fact-table">')
    assert "<html" not in html
    assert "Old build tool" in html and "Fresh finding" not in html
    assert "HX-Request" in response.headers["Vary"]


def test_fact_list_is_paginated_and_keeps_the_filter(browser, project):
    for i in range(30):
        MemoryFactFactory(project=project, subject=f"fact-{i:02d}", confidence=1 - i / 100)
    MemoryFactFactory(project=project, subject="stale one", is_stale=True)

    first = browser.get(facts_url(project.slug), {"stale": "false"}).content.decode()
    second = browser.get(facts_url(project.slug), {"stale": "false", "page": 2}).content.decode()

    assert "fact-24" in first and "fact-25" not in first
    assert 'href="?stale=false&amp;page=2"' in first
    assert "fact-25" in second and "fact-29" in second and "fact-00" not in second
    assert "stale one" not in second


@pytest.mark.parametrize("n_facts", [2, 25])
def test_fact_list_query_count_does_not_grow(
    browser, project, n_facts, django_assert_max_num_queries
):
    agent = AgentFactory(project=project, name="tester-1")
    for _ in range(n_facts):
        MemoryFactFactory(project=project, agent=agent)

    # session, user, membership, page count, page rows
    with django_assert_max_num_queries(5):
        response = browser.get(facts_url(project.slug))

    assert response.content.decode().count("by tester-1") == n_facts


def test_what_was_learned_is_rendered_as_safe_markdown(browser, project):
    MemoryFactFactory(
        project=project,
        subject="Runner",
        body={
            "learned": "Run `make test` **twice** <img src=x onerror=alert(1)>",
            "confidence": 0.5,
            "source": "ci",
        },
    )
    html = browser.get(reverse("memory:fact-list", args=[project.slug])).content.decode()
    assert "Run <code>make test</code> <strong>twice</strong>" in html
    assert "<img" not in html
