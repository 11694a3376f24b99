import itertools
import re

import pytest
from django.urls import reverse

from planning.models import Project, ProjectMembership, Task, TaskDependency
from tests.factories import (
    AgentFactory,
    FeatureFactory,
    ProjectFactory,
    SubFeatureFactory,
    TaskDependencyFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def detail_url(project: Project) -> str:
    return reverse("planning:project-detail", args=[project.slug])


def status_url(task: Task) -> str:
    return reverse("planning:task-status", args=[task.project.slug, task.key])


def build_plan(project: Project, n_tasks: int) -> None:
    """A plan of `n_tasks` spread over features, sub-features, loose and unassigned tasks."""
    agent = AgentFactory(project=project, name="coder-1")
    features = [FeatureFactory(project=project, key=f"F{i}") for i in range(3)]
    subs = [
        SubFeatureFactory(feature=f, key=f"{f.key}-S{j}", wave=j + 1)
        for f in features
        for j in range(3)
    ]
    tasks = []
    for i in range(n_tasks):
        sub = subs[i % len(subs)] if i % 10 else None
        feature = sub.feature if sub else (features[0] if i % 20 else None)
        tasks.append(
            Task(
                project=project,
                feature=feature,
                sub_feature=sub,
                key=f"T{i:04d}",
                name=f"Task number {i}",
                wave=sub.wave if sub else 1,
                type=Task.Type.HUMAN_VERIFY if i % 7 == 0 else Task.Type.AUTO,
                status=Task.Status.DONE if i % 3 == 0 else Task.Status.PENDING,
                assigned_agent=agent if i % 5 == 0 else None,
            )
        )
    tasks = Task.objects.bulk_create(tasks)
    TaskDependency.objects.bulk_create(
        TaskDependency(task=later, depends_on=earlier)
        for earlier, later in itertools.pairwise(tasks)
    )


# Access ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/projects/"),
        ("get", "/projects/crewboard/"),
        ("post", "/projects/crewboard/tasks/T1/status/"),
    ],
)
def test_anonymous_users_are_sent_to_login(client, project, method, url):
    response = getattr(client, method)(url)

    assert response.status_code == 302
    assert response.url.startswith(reverse("login") + "?next=")


def test_root_redirects_to_the_project_list(browser):
    response = browser.get("/")

    assert response.status_code in (301, 302)
    assert response.url == reverse("planning:project-list")


def test_login_page_logs_in_and_lands_on_projects(client, user):
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert b'name="password"' in page.content

    response = client.post(
        reverse("login"), {"username": "alice", "password": "correct horse battery"}
    )

    assert response.status_code == 302
    assert response.url == reverse("planning:project-list")


def test_logout_is_a_post_that_ends_the_session(browser):
    response = browser.post(reverse("logout"))

    assert response.status_code == 302
    assert response.url == reverse("login")
    assert browser.get("/projects/").status_code == 302


def test_someone_elses_project_is_404(browser, other_project):
    assert browser.get(detail_url(other_project)).status_code == 404


def test_pages_carry_a_strict_content_security_policy(browser, project):
    response = browser.get(detail_url(project))

    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy


def test_pages_need_no_inline_script_or_style(browser, project):
    TaskFactory(project=project, key="T1")
    html = browser.get(detail_url(project)).content.decode()

    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
    assert "style=" not in html
    assert "<style" not in html
    assert "hx-on" not in html
    assert '"includeIndicatorStyles": false' in html
    # htmx would copy a swapped element's style attribute onto its replacement.
    assert '"attributesToSettle": ["class", "width", "height"]' in html
    assert 'hx-headers=\'{"X-CSRFToken": "' in html


def test_navigation_links_admin_only_for_staff(client, user, project):
    client.force_login(user)
    assert b"/admin/" not in client.get("/projects/").content

    user.is_staff = True
    user.save()
    html = client.get("/projects/").content.decode()
    assert 'href="/admin/"' in html
    assert 'href="/api/docs/"' in html
    assert f'action="{reverse("logout")}"' in html


# Project list -------------------------------------------------------------------------


def test_project_list_shows_only_my_projects_with_progress(browser, project, other_project):
    TaskFactory(project=project, status=Task.Status.DONE)
    TaskFactory(project=project)
    TaskFactory(project=project)

    html = browser.get("/projects/").content.decode()

    assert "Crewboard" in html
    assert "1/3 tasks done" in html
    assert 'class="badge badge--planning"' in html
    assert "Someone else" not in html


def test_project_list_is_paginated_by_25(browser, user):
    for i in range(30):
        ProjectFactory(owner=user, name=f"P{i:02d}", slug=f"p{i:02d}")

    first = browser.get("/projects/").content.decode()
    second = browser.get("/projects/?page=2").content.decode()

    assert "P00" in first and "P24" in first and "P25" not in first
    assert "P25" in second and "P29" in second and "P24" not in second
    assert "Page 2 of 2" in second
    assert 'href="?page=1"' in second


@pytest.mark.parametrize("n_projects", [2, 30])
def test_project_list_query_count_does_not_grow(
    browser, user, n_projects, django_assert_max_num_queries
):
    for i in range(n_projects):
        project = ProjectFactory(owner=user, slug=f"p{i}")
        TaskFactory(project=project, status=Task.Status.DONE)
        TaskFactory(project=project)

    # session, user, page count, page rows
    with django_assert_max_num_queries(4):
        response = browser.get("/projects/")

    assert response.content.decode().count("1/2 tasks done") == min(n_projects, 25)


# Project creation ---------------------------------------------------------------------


def test_creating_a_project_redirects_htmx_to_it(browser, user):
    response = browser.post("/projects/", {"name": "Rocket", "slug": "", "mode": "genesis"}, **HTMX)

    project = Project.objects.get(name="Rocket")
    assert project.slug == "rocket"
    assert project.owner == user
    assert ProjectMembership.objects.get(project=project, user=user).role == "owner"
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == detail_url(project)


def test_creating_a_project_without_htmx_redirects(browser):
    response = browser.post("/projects/", {"name": "Rocket", "slug": "rkt", "mode": "evolution"})

    assert response.status_code == 302
    assert response.url == "/projects/rkt/"
    assert Project.objects.get(slug="rkt").mode == "evolution"
    assert "Created project “Rocket”." in browser.get(response.url).content.decode()


def test_duplicate_slug_rerenders_only_the_form_with_the_error(browser, project):
    response = browser.post(
        "/projects/", {"name": "Another", "slug": "crewboard", "mode": "genesis"}, **HTMX
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "HX-Redirect" not in response.headers
    assert html.lstrip().startswith('<form id="project-form"')
    assert "<html" not in html
    assert "already exists" in html
    assert 'value="Another"' in html
    assert not Project.objects.filter(name="Another").exists()


def test_invalid_project_without_htmx_shows_the_whole_page_with_errors(browser, project):
    response = browser.post("/projects/", {"name": "", "mode": "genesis"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html
    assert "This field is required." in html
    assert Project.objects.count() == 1


# Project page -------------------------------------------------------------------------


def tasks_url(project: Project, **group: object) -> str:
    query = "&".join(f"{name}={value}" for name, value in group.items())
    return reverse("planning:plan-tasks", args=[project.slug]) + "?" + query


def test_project_page_shows_the_plan_tree(browser, project):
    feature = FeatureFactory(project=project, key="01", name="Data model")
    sub = SubFeatureFactory(feature=feature, key="01-08", name="Task schema", wave=3)
    task = TaskFactory(
        project=project,
        feature=feature,
        sub_feature=sub,
        key="01-08-T2",
        name="Add columns",
        wave=3,
    )
    TaskDependencyFactory(task=task, depends_on=TaskFactory(project=project, key="01-08-T1"))
    TaskFactory(
        project=project,
        feature=feature,
        sub_feature=sub,
        key="01-08-T3",
        name="Check the schema",
        type=Task.Type.HUMAN_VERIFY,
        wave=3,
    )

    html = browser.get(detail_url(project)).content.decode()
    assert "Data model" in html
    assert "Add columns" not in html  # features come collapsed
    body = browser.get(
        reverse("planning:plan-feature", args=[project.slug, feature.pk]), **HTMX
    ).content.decode()
    assert "Task schema" in body
    assert "Wave 3" in body
    tasks = browser.get(tasks_url(project, sub_feature=sub.pk), **HTMX).content.decode()

    assert "Add columns" in tasks
    row = re.search(rf'<tr id="task-{task.pk}".*?</tr>', tasks, re.S).group(0)
    assert re.search(r'<td class="num">3</td>\s*<td class="num">1</td>', row)  # wave, deps
    checkpoint_row = re.search(r"<tr[^>]*>(?:(?!</tr>).)*01-08-T3.*?</tr>", tasks, re.S).group(0)
    assert "needs human" in checkpoint_row
    assert "needs human" not in row


def test_project_page_calls_out_the_next_ready_task(browser, project):
    blocked = TaskFactory(project=project, key="A1", name="Blocked work", priority="high")
    TaskDependencyFactory(
        task=blocked, depends_on=TaskFactory(project=project, key="A0", status="review")
    )
    TaskFactory(project=project, key="B1", name="Ready work", priority="medium")

    html = browser.get(detail_url(project)).content.decode()

    callout = re.search(r'id="task-next".*?</div>', html, re.S).group(0)
    assert "Ready work" in callout
    assert "Blocked work" not in callout


def test_project_page_counts_the_tasks_waiting_for_review(browser, project):
    feature = FeatureFactory(project=project)
    TaskFactory(project=project, key="R1", status=Task.Status.REVIEW)
    TaskFactory(project=project, key="R2", status=Task.Status.REVIEW, feature=feature)
    TaskFactory(project=project, key="D1", status=Task.Status.DONE)

    summary = browser.get(detail_url(project), **HTMX).content.decode()
    assert "<strong>2</strong> wait for review: open their diff from the task list" in summary

    Task.objects.filter(key="R2").update(status=Task.Status.DONE)
    summary = browser.get(detail_url(project), **HTMX).content.decode()
    assert "<strong>1</strong> waits for review: open its diff from the task list" in summary

    Task.objects.filter(key="R1").update(status=Task.Status.DONE)
    assert "for review" not in browser.get(detail_url(project), **HTMX).content.decode()


def test_project_page_links_to_agents_and_memory(browser, project):
    html = browser.get(detail_url(project)).content.decode()

    assert f'href="{reverse("agents:agent-list", args=["crewboard"])}"' in html
    assert f'href="{reverse("memory:fact-list", args=["crewboard"])}"' in html


def test_editors_get_a_status_select_and_viewers_a_badge(client, project, viewer):
    task = TaskFactory(project=project, key="T1", status=Task.Status.REVIEW)
    client.force_login(project.owner)
    owner_html = client.get(tasks_url(project, unassigned=1), **HTMX).content.decode()
    client.force_login(viewer)
    viewer_html = client.get(tasks_url(project, unassigned=1), **HTMX).content.decode()

    assert f'hx-post="{status_url(task)}"' in owner_html
    assert '<option value="review" selected>' in owner_html
    assert "<select" not in viewer_html
    assert "hx-post" not in viewer_html
    assert '<span class="badge badge--review">Review</span>' in viewer_html


def test_htmx_refresh_of_the_project_page_returns_only_the_summary(browser, project):
    TaskFactory(project=project, status=Task.Status.DONE)
    TaskFactory(project=project, name="Still to do")

    response = browser.get(detail_url(project), **HTMX)

    html = response.content.decode()
    assert html.lstrip().startswith('<section id="plan-summary"')
    assert "<html" not in html
    assert "1</strong> of 2 tasks done" in html
    assert "Still to do" in html  # the next task
    assert "HX-Request" in response.headers["Vary"]


@pytest.mark.parametrize("n_tasks", [10, 2000])
def test_project_page_query_count_does_not_grow_with_tasks(
    browser, project, n_tasks, django_assert_max_num_queries
):
    build_plan(project, n_tasks)

    # session, user, membership, task counts, next task (best group in started plans,
    # then overall; the task; its dependencies), features (count, page, their task
    # counts, their sub-feature counts), tasks outside a feature, latest planning run
    with django_assert_max_num_queries(14):
        response = browser.get(detail_url(project))

    html = response.content.decode()
    assert 'class="task-row' not in html  # tasks load when their group is opened
    assert html.count('<details class="feature"') == 3
    assert f"of {n_tasks} tasks done" in html


# Task status --------------------------------------------------------------------------


def test_status_change_returns_only_the_row_and_persists(browser, project):
    feature = FeatureFactory(project=project)
    sub = SubFeatureFactory(feature=feature, wave=2)
    task = TaskFactory(project=project, feature=feature, sub_feature=sub, key="01-08-T2", wave=2)

    response = browser.post(status_url(task), {"status": "done"}, **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith(f'<tr id="task-{task.pk}"')
    assert html.count("<tr") == 1
    # After the row, only the badges the change rolled up into, swapped out of band.
    after_row = html.split("</tr>", 1)[1].strip().splitlines()
    assert len(after_row) == 3
    assert all(' hx-swap-oob="true"' in line for line in after_row)
    assert '<option value="done" selected>' in html
    assert "plan-changed" in response.headers["HX-Trigger"]
    task.refresh_from_db()
    assert task.status == Task.Status.DONE
    assert task.completed_at is not None


def test_status_change_accepts_dotted_keys(browser, project):
    task = TaskFactory(project=project, key="12.3")

    response = browser.post(
        "/projects/crewboard/tasks/12.3/status/", {"status": "in_progress"}, **HTMX
    )

    assert response.status_code == 200
    task.refresh_from_db()
    assert task.status == Task.Status.IN_PROGRESS
    assert task.started_at is not None


def test_status_change_away_from_done_clears_completed_at(browser, project):
    task = TaskFactory(project=project, key="T1")
    browser.post(status_url(task), {"status": "done"}, **HTMX)

    browser.post(status_url(task), {"status": "review"}, **HTMX)

    task.refresh_from_db()
    assert task.status == Task.Status.REVIEW
    assert task.completed_at is None


def test_viewer_cannot_change_status(client, project, viewer):
    task = TaskFactory(project=project, key="T1")
    client.force_login(viewer)

    response = client.post(status_url(task), {"status": "done"}, **HTMX)

    assert response.status_code == 403
    task.refresh_from_db()
    assert task.status == Task.Status.PENDING
    assert task.completed_at is None


def test_non_member_status_change_is_404(browser, other_project):
    task = TaskFactory(project=other_project, key="T1")

    response = browser.post(status_url(task), {"status": "done"}, **HTMX)

    assert response.status_code == 404
    task.refresh_from_db()
    assert task.status == Task.Status.PENDING


def test_unknown_task_is_404(browser, project):
    response = browser.post("/projects/crewboard/tasks/NOPE/status/", {"status": "done"}, **HTMX)

    assert response.status_code == 404


def test_invalid_status_is_400_with_the_row_showing_the_error(browser, project):
    task = TaskFactory(project=project, key="T1", status=Task.Status.REVIEW)

    response = browser.post(status_url(task), {"status": "finished"}, **HTMX)

    html = response.content.decode()
    assert response.status_code == 400
    assert html.lstrip().startswith(f'<tr id="task-{task.pk}"')
    assert "task-row--invalid" in html
    assert "Select a valid choice" in html
    assert '<option value="review" selected>' in html
    assert "HX-Trigger" not in response.headers
    task.refresh_from_db()
    assert task.status == Task.Status.REVIEW


def test_status_change_needs_post(browser, project):
    task = TaskFactory(project=project, key="T1")

    assert browser.get(status_url(task)).status_code == 405


def test_a_status_change_answers_with_the_statuses_it_rolled_up(browser, project):
    feature = FeatureFactory(project=project)
    sub = SubFeatureFactory(feature=feature)
    task = TaskFactory(project=project, key="T1", feature=feature, sub_feature=sub)
    page = browser.get(reverse("planning:project-detail", args=[project.slug])).content.decode()
    body = browser.get(
        reverse("planning:plan-feature", args=[project.slug, feature.pk]), **HTMX
    ).content.decode()
    assert f'<span id="sub-feature-{sub.pk}-status" class="badge badge--planned">' in body
    assert f'<span id="feature-{feature.pk}-status" class="badge badge--backlog">' in page
    assert '<span id="project-status" class="badge badge--planning">' in page

    response = browser.post(status_url(task), {"status": "done"}, **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith(f'<tr id="task-{task.pk}"')
    for badge_id in (f"sub-feature-{sub.pk}-status", f"feature-{feature.pk}-status"):
        assert f'<span id="{badge_id}" class="badge badge--done" hx-swap-oob="true">Done<' in html
    assert (
        '<span id="project-status" class="badge badge--completed" hx-swap-oob="true">Completed<'
        in html
    )
