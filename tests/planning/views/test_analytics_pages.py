"""The analytics page at size: every list a page at a time, and the graph figures (waves,
critical path, cycles) computed once per change of the plan, for the page and the API."""

import re

import pytest
from django.urls import reverse

from planning import plan_graph, services
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
