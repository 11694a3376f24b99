"""The plan page as an outline: collapsed features with counts and progress, sub-features
and tasks opened a page at a time, links that open a task's row, and the live summary's
ETag poll. Sizes and query counts stay flat as the plan grows."""

import re

import pytest
from django.urls import reverse

from planning import services
from planning.models import Feature, Project, SubFeature, Task
from planning.views.project_page import SUB_FEATURES_PER_PAGE, TASKS_PER_PAGE
from tests.factories import (
    FeatureFactory,
    ProjectFactory,
    SubFeatureFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
PAGE_LIMIT_BYTES = 200_000


def detail_url(project: Project) -> str:
    return reverse("planning:project-detail", args=[project.slug])


def feature_url(feature: Feature, page: int | None = None) -> str:
    url = reverse("planning:plan-feature", args=[feature.project.slug, feature.pk])
    return f"{url}?page={page}" if page else url


def tasks_url(project: Project, query: str) -> str:
    return reverse("planning:plan-tasks", args=[project.slug]) + "?" + query


def row_keys(html: str) -> list[str]:
    return re.findall(
        r'<tr id="task-\d+" class="task-row[^"]*"[^>]*>\s*<td class="key">([^<]+)<', html
    )


def bulk_tasks(project: Project, n: int, prefix: str = "T", **fields: object) -> list[Task]:
    return Task.objects.bulk_create(
        Task(project=project, key=f"{prefix}{i:05d}", name=f"Task {i}", position=i, **fields)
        for i in range(n)
    )


def big_plan(project: Project, n_tasks: int) -> tuple[Feature, SubFeature]:
    """One feature with a sub-feature holding most tasks; the rest loose or outside any
    feature."""
    feature = FeatureFactory(project=project, key="F1", name="Everything")
    sub = SubFeatureFactory(feature=feature, key="F1-S1", name="The bulk")
    bulk_tasks(project, n_tasks - 20, feature=feature, sub_feature=sub)
    bulk_tasks(project, 10, prefix="L", feature=feature)
    bulk_tasks(project, 10, prefix="U")
    return feature, sub


# Outline ------------------------------------------------------------------------------


def test_features_show_counts_progress_and_their_rolled_up_status(browser, project):
    feature = FeatureFactory(project=project, key="01", name="Data model")
    sub = SubFeatureFactory(feature=feature, key="01-01")
    tasks = [
        TaskFactory(project=project, feature=feature, sub_feature=sub, key=f"01-01-T{i}")
        for i in range(3)
    ]
    services.task_set_status(task=tasks[0], status=Task.Status.DONE)
    services.task_set_status(task=tasks[1], status=Task.Status.IN_PROGRESS)

    html = browser.get(detail_url(project)).content.decode()
    summary = re.search(r'<summary class="feature-header".*?</summary>', html, re.S).group(0)
    assert "1/3 tasks done · 1 started" in summary
    assert '<progress max="3" value="1"' in summary
    assert "badge--in_progress" in summary

    for task in tasks[1:]:
        services.task_set_status(task=task, status=Task.Status.DONE)
    html = browser.get(detail_url(project)).content.decode()
    summary = re.search(r'<summary class="feature-header".*?</summary>', html, re.S).group(0)
    assert "3/3 tasks done" in summary
    assert f'<span id="feature-{feature.pk}-status" class="badge badge--done">Done<' in summary
    body = browser.get(feature_url(feature), **HTMX).content.decode()
    assert f'<span id="sub-feature-{sub.pk}-status" class="badge badge--done">Done<' in body
    assert "3/3 tasks done" in body


def test_a_feature_opens_to_a_page_of_sub_features_and_its_loose_tasks(browser, project):
    feature = FeatureFactory(project=project, key="F")
    SubFeature.objects.bulk_create(
        SubFeature(project=project, feature=feature, key=f"F-{i:03d}", name=f"Plan {i}", position=i)
        for i in range(SUB_FEATURES_PER_PAGE + 5)
    )
    TaskFactory(project=project, feature=feature, key="LOOSE-1")

    first = browser.get(feature_url(feature), **HTMX).content.decode()
    last = browser.get(feature_url(feature, page=2), **HTMX).content.decode()

    assert first.count('<details class="sub-feature"') == SUB_FEATURES_PER_PAGE
    assert "Sub-features, page 1 of 2" in first
    assert f'hx-get="{feature_url(feature, page=2)}"' in first
    assert last.count('<details class="sub-feature"') == 5
    assert "Tasks outside a sub-feature" in first and "1 task<" in first
    assert f'hx-get="{tasks_url(project, f"feature={feature.pk}")}"' in first


def test_a_group_of_tasks_opens_a_page_at_a_time(browser, project):
    feature, sub = big_plan(project, TASKS_PER_PAGE * 2 + 30)

    first = browser.get(tasks_url(project, f"sub_feature={sub.pk}"), **HTMX).content.decode()
    third = browser.get(tasks_url(project, f"sub_feature={sub.pk}&page=3"), **HTMX).content.decode()
    loose = browser.get(tasks_url(project, f"feature={feature.pk}"), **HTMX).content.decode()
    outside = browser.get(tasks_url(project, "unassigned=1"), **HTMX).content.decode()

    assert row_keys(first) == [f"T{i:05d}" for i in range(TASKS_PER_PAGE)]
    assert f"Tasks 1\N{EN DASH}{TASKS_PER_PAGE} of {TASKS_PER_PAGE * 2 + 10}" in first
    assert row_keys(third) == [
        f"T{i:05d}" for i in range(TASKS_PER_PAGE * 2, TASKS_PER_PAGE * 2 + 10)
    ]
    assert 'rel="next"' not in third
    assert row_keys(loose) == [f"L{i:05d}" for i in range(10)]
    assert row_keys(outside) == [f"U{i:05d}" for i in range(10)]


@pytest.mark.parametrize(
    "query", ["sub_feature=999999", "feature=999999", "sub_feature=x", "", "page=2"]
)
def test_an_unknown_group_is_404(browser, project, query):
    assert browser.get(tasks_url(project, query), **HTMX).status_code == 404


def test_another_projects_groups_are_404(browser, project, other_project):
    mine = FeatureFactory(project=project)
    theirs = FeatureFactory(project=other_project)
    their_sub = SubFeatureFactory(feature=theirs)

    assert browser.get(tasks_url(project, f"sub_feature={their_sub.pk}")).status_code == 404
    assert browser.get(tasks_url(project, f"feature={theirs.pk}")).status_code == 404
    assert browser.get(feature_url(theirs)).status_code == 404
    other_url = reverse("planning:plan-feature", args=[other_project.slug, mine.pk])
    assert browser.get(other_url).status_code == 404


def test_a_link_to_a_task_opens_the_page_of_its_group_that_holds_it(browser, project):
    feature, sub = big_plan(project, TASKS_PER_PAGE * 2 + 20)
    task = Task.objects.get(project=project, key=f"T{TASKS_PER_PAGE + 7:05d}")

    html = browser.get(f"{detail_url(project)}?task={task.key}").content.decode()

    # Editors' items also carry where a drag posts them (data-move-url).
    assert re.search(rf'<details class="feature" id="feature-{feature.pk}"[^>]* open>', html)
    assert re.search(rf'<details class="sub-feature" id="sub-feature-{sub.pk}"[^>]* open>', html)
    assert f'<tr id="task-{task.pk}"' in html
    assert row_keys(html)[0] == f"T{TASKS_PER_PAGE:05d}"  # the second page
    outside = Task.objects.get(project=project, key="U00003")
    html = browser.get(f"{detail_url(project)}?task={outside.key}").content.decode()
    assert f'<tr id="task-{outside.pk}"' in html
    assert "<tr id=" in html and f'<tr id="task-{task.pk}"' not in html


def test_a_done_task_still_names_the_agent_who_did_it(browser, project):
    from tests.factories import AgentFactory

    agent = AgentFactory(project=project, name="coder-7")
    TaskFactory(project=project, key="D1", status=Task.Status.DONE, coded_by=agent)

    html = browser.get(tasks_url(project, "unassigned=1"), **HTMX).content.decode()

    assert '<td class="small">coder-7</td>' in html


# Size and cost ------------------------------------------------------------------------


@pytest.mark.parametrize("n_tasks", [40, 3000])
def test_pages_stay_small_and_their_queries_flat(
    browser, project, n_tasks, django_assert_max_num_queries
):
    feature, sub = big_plan(project, n_tasks)
    # The whole page and the summary: see test_project_page_query_count_does_not_grow_with_tasks
    # (the summary adds the change stamp and needs no planning run or unassigned count).
    pages = [
        (detail_url(project), {}, 14),
        (detail_url(project), HTMX, 13),
        (feature_url(feature), HTMX, 9),
        (tasks_url(project, f"sub_feature={sub.pk}"), HTMX, 7),
        (tasks_url(project, "unassigned=1"), HTMX, 6),
        (f"{detail_url(project)}?task=T00005", {}, 27),
    ]
    for url, headers, max_queries in pages:
        with django_assert_max_num_queries(max_queries):
            response = browser.get(url, **headers)
        assert response.status_code == 200, url
        assert len(response.content) < PAGE_LIMIT_BYTES, url


# Live summary -------------------------------------------------------------------------


def test_the_summary_asks_again_on_a_change_here_elsewhere_or_from_the_header(browser, project):
    TaskFactory(project=project, key="T1")

    html = browser.get(detail_url(project)).content.decode()
    summary = re.search(r'<section id="plan-summary"[^>]*>', html).group(0)

    # It does not poll itself: the project header does (planning.views.live), and says
    # "live-changed" when it finds a change.
    assert 'hx-trigger="plan-changed from:body, live-changed from:body"' in summary
    assert "every" not in summary
    assert "data-live" in summary
    assert 'hx-include="#plan-outline input.live-row"' in summary


def test_the_summary_brings_the_header_and_the_shown_features_out_of_band(browser, project):
    feature = FeatureFactory(project=project, key="F1")
    other = FeatureFactory(project=project, key="F2")
    task = TaskFactory(project=project, feature=feature, key="T1")
    services.task_set_status(task=task, status=Task.Status.DONE)
    page = browser.get(detail_url(project)).content.decode()
    assert f'hx-get="{detail_url(project)}?features={feature.pk},{other.pk}"' in page

    html = browser.get(f"{detail_url(project)}?features={feature.pk},99999,x", **HTMX)
    html = html.content.decode()

    # Every task done: the project is completed, and the header says so.
    assert '<span id="project-status" class="badge badge--completed" hx-swap-oob="true">' in html
    oob = re.search(
        rf'<summary class="feature-header" id="feature-{feature.pk}-summary" hx-swap-oob="true">'
        r".*?</summary>",
        html,
        re.S,
    ).group(0)
    assert "1/1 task done" in oob
    # Only the features asked for: one the page does not show would find nothing to swap.
    assert f'id="feature-{other.pk}-summary"' not in html


def test_an_unchanged_poll_answers_304_after_two_queries(
    browser, project, django_assert_max_num_queries
):
    big_plan(project, 200)
    first = browser.get(detail_url(project), **HTMX)
    etag = first.headers["ETag"]
    assert "no-cache" in first.headers["Cache-Control"]
    assert "private" in first.headers["Cache-Control"]

    # the user, then the membership and change stamp in one query: the session comes
    # from the cache
    with django_assert_max_num_queries(2):
        again = browser.get(detail_url(project), HTTP_IF_NONE_MATCH=etag, **HTMX)

    assert again.status_code == 304
    assert again.content == b""


def change_a_task(project: Project) -> None:
    services.task_set_status(task=project.tasks.get(key="T00001"), status=Task.Status.DONE)


def change_a_name(project: Project) -> None:
    feature = project.features.get()
    services.feature_update(feature=feature, data={"name": "Renamed"})


def delete_a_task(project: Project) -> None:
    services.task_delete(task=project.tasks.get(key="U00001"))


def add_a_dependency(project: Project) -> None:
    services.task_add_dependency(
        task=project.tasks.get(key="T00002"), depends_on=project.tasks.get(key="T00003")
    )


def restore_statuses(project: Project) -> None:
    from planning.selectors import plan_document
    from planning.services.plans import plan_apply

    document = plan_document(project=project)
    for spec in document.tasks:
        if spec.key == "T00004":
            spec.status = Task.Status.BLOCKED
    plan_apply(project=project, document=document)


@pytest.mark.parametrize(
    "change", [change_a_task, change_a_name, delete_a_task, add_a_dependency, restore_statuses]
)
def test_any_change_to_the_plan_answers_200_with_a_new_etag(browser, project, change):
    big_plan(project, 40)
    etag = browser.get(detail_url(project), **HTMX).headers["ETag"]

    change(project)
    response = browser.get(detail_url(project), HTTP_IF_NONE_MATCH=etag, **HTMX)

    assert response.status_code == 200
    assert response.headers["ETag"] != etag


def test_the_etag_differs_by_the_features_asked_for_and_a_stranger_gets_404(
    client, browser, project
):
    big_plan(project, 40)
    etag = browser.get(detail_url(project), **HTMX).headers["ETag"]

    feature = project.features.get()
    assert (
        browser.get(f"{detail_url(project)}?features={feature.pk}", **HTMX).headers["ETag"] != etag
    )
    stranger = ProjectFactory(slug="someone-elses")
    response = browser.get(detail_url(stranger), HTTP_IF_NONE_MATCH=etag, **HTMX)
    assert response.status_code == 404
