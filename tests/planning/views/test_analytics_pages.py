"""The analytics page at size: every list a page at a time, and the graph figures (waves,
critical path, cycles) computed once per change of the plan, for the page and the API."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from planning import analytics_pages, plan_graph, services
from planning.models import Project, Task

pytestmark = pytest.mark.django_db


def analytics_url(project: Project) -> str:
    return reverse("planning:project-analytics", args=[project.slug])


def set_keys(html: str, slug: str) -> tuple[str, list[str]]:
    start = html.index(f'id="tasks-{slug}"')
    details = html[html.rindex("<details", 0, start) : html.index("</details>", start)]
    return details, re.findall(r'class="key"[^>]*>([^<]+)</a>', details)


@pytest.fixture
def compute_calls(monkeypatch):
    """How many times the graph figures were computed."""
    calls = []
    real = plan_graph.plan_graph_compute

    def counting(*, project):
        calls.append(project.pk)
        return real(project=project)

    monkeypatch.setattr(plan_graph, "plan_graph_compute", counting)
    return calls


def test_a_task_set_shows_a_page_at_a_time(browser, project):
    Task.objects.bulk_create(
        Task(project=project, key=f"R{i:03d}", name=f"Ready {i}") for i in range(120)
    )

    html = browser.get(analytics_url(project)).content.decode()
    details, keys = set_keys(html, "ready")
    assert "Ready <span" in details and "(120)" in details
    assert keys == [f"R{i:03d}" for i in range(50)]
    assert 'href="?ready-page=2#tasks-ready"' in details
    assert not details.startswith('<details class="panel task-set" id="tasks-ready" open')

    html = browser.get(analytics_url(project) + "?ready-page=3").content.decode()
    details, keys = set_keys(html, "ready")
    assert keys == [f"R{i:03d}" for i in range(100, 120)]
    assert details.startswith('<details class="panel task-set" id="tasks-ready" open>')
    assert "Page 3 of 3" in details


def test_the_graph_is_computed_once_per_change_of_the_plan(browser, api, project, compute_calls):
    first = Task.objects.create(project=project, key="A", name="First")
    second = Task.objects.create(project=project, key="B", name="Second")
    services.task_add_dependency(task=second, depends_on=first)

    browser.get(analytics_url(project))
    browser.get(analytics_url(project))
    api.get(f"/api/v1/projects/{project.slug}/analytics/")
    assert len(compute_calls) == 1

    services.task_update(task=first, data={"estimated_minutes": 100})
    html = browser.get(analytics_url(project)).content.decode()
    assert len(compute_calls) == 2
    assert "115 min" in html


@pytest.mark.parametrize("n_tasks", [30, 3000])
def test_the_page_stays_small(browser, project, n_tasks):
    tasks = Task.objects.bulk_create(
        Task(project=project, key=f"T{i:05d}", name=f"Task {i}") for i in range(n_tasks)
    )
    Task.objects.filter(pk__in=[t.pk for t in tasks[: n_tasks // 2]]).update(
        status=Task.Status.DONE
    )

    response = browser.get(analytics_url(project))

    assert response.status_code == 200
    assert len(response.content) < 200_000


def test_the_task_sets_are_read_from_the_cache_while_the_plan_is_unchanged(
    browser, project, django_assert_max_num_queries
):
    first = Task.objects.create(project=project, key="A", name="First")
    second = Task.objects.create(project=project, key="B", name="Second")
    services.task_add_dependency(task=second, depends_on=first)
    with CaptureQueriesContext(connection) as cold:
        browser.get(analytics_url(project))

    with CaptureQueriesContext(connection) as warm:
        html = browser.get(analytics_url(project)).content.decode()

    # The ready set is a query over the dependencies: run on the first view only.
    assert any("planning_taskdependency" in q["sql"] for q in cold.captured_queries)
    assert not any("planning_taskdependency" in q["sql"] for q in warm.captured_queries)
    assert set_keys(html, "ready")[1] == ["A"] and set_keys(html, "blocked")[1] == ["B"]

    services.task_set_status(task=first, status=Task.Status.DONE)
    html = browser.get(analytics_url(project)).content.decode()
    assert set_keys(html, "ready")[1] == ["B"] and set_keys(html, "done")[1] == ["A"]


@pytest.mark.parametrize("n_tasks", [30, 3000])
def test_the_api_lists_a_page_at_a_time(api, project, n_tasks, django_assert_max_num_queries):
    Task.objects.bulk_create(
        Task(project=project, key=f"T{i:05d}", name=f"Task {i}") for i in range(n_tasks)
    )
    url = f"/api/v1/projects/{project.slug}/analytics/"
    api.get(url)  # computes what the cache keeps

    with django_assert_max_num_queries(8):
        response = api.get(url)

    assert response.status_code == 200 and len(response.content) < 200_000
    data = response.data
    per_page = analytics_pages.API_PER_PAGE
    assert data["page"] == 1 and data["per_page"] == per_page
    assert data["counts"]["ready"] == data["counts"]["task_waves"] == n_tasks
    assert data["ready"] == [f"T{i:05d}" for i in range(min(n_tasks, per_page))]
    assert len(data["task_waves"]) == min(n_tasks, per_page)
    if n_tasks <= per_page:
        assert data["next"] is None
        return
    pages = [data]
    while pages[-1]["next"]:
        assert pages[-1]["next"].startswith("http://testserver" + url + "?page=")
        pages.append(api.get(pages[-1]["next"]).data)
    assert [key for page in pages for key in page["ready"]] == [f"T{i:05d}" for i in range(n_tasks)]
    assert sum(len(page["task_waves"]) for page in pages) == n_tasks


def test_the_api_refuses_a_page_that_is_not_a_number(api, project):
    url = f"/api/v1/projects/{project.slug}/analytics/"
    for page in ("0", "two", "-1"):
        response = api.get(url, {"page": page})
        assert response.status_code == 400 and "page" in response.data
    past_the_end = api.get(url, {"page": "9"}).data
    assert past_the_end["ready"] == [] and past_the_end["next"] is None
