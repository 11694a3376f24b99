"""A task's page: its plan fields, dependencies both ways as links and who did it; edits
in place through the services, with a cycle refused and its path shown."""

import pytest
from django.urls import reverse

from planning.models import Project, Task, TaskDependency
from tests.factories import (
    AgentFactory,
    FeatureFactory,
    ProjectFactory,
    TaskDependencyFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def page_url(task: Task) -> str:
    return reverse("planning:task-detail", args=[task.project.slug, task.key])


def edit_url(task: Task) -> str:
    return reverse("planning:task-edit", args=[task.project.slug, task.key])


def add_dependency_url(task: Task) -> str:
    return reverse("planning:task-dependency-add", args=[task.project.slug, task.key])


def edit_data(task: Task, **changes: str) -> dict[str, str]:
    return {
        "name": task.name,
        "description": task.description,
        "priority": task.priority,
        "status": task.status,
        **changes,
    }


def test_the_page_shows_the_plan_fields_links_and_who_did_it(browser, project):
    agent = AgentFactory(project=project, name="coder-7")
    before = TaskFactory(project=project, key="A", name="First")
    task = TaskFactory(
        project=project,
        key="feature/x:1",
        name="Do **it**",
        description="Run `make`",
        verify="Tests pass",
        done_criteria="Green",
        files=["app/x.py"],
        coded_by=agent,
        branch_name="crewboard/x",
    )
    after = TaskFactory(project=project, key="C", name="Third")
    TaskDependencyFactory(task=task, depends_on=before)
    TaskDependencyFactory(task=after, depends_on=task)

    html = browser.get(page_url(task)).content.decode()

    assert "<strong>it</strong>" in html and "<code>make</code>" in html
    assert "Tests pass" in html and "Green" in html and "app/x.py" in html
    assert "coder-7" in html and "crewboard/x" in html
    assert f'href="{page_url(before)}"' in html
    assert f'href="{page_url(after)}"' in html
    assert page_url(task).endswith("/tasks/feature/x:1/")


def test_viewers_see_no_edit_forms_and_strangers_get_404(client, project, viewer):
    task = TaskFactory(project=project, key="T1")
    client.force_login(viewer)

    html = client.get(page_url(task)).content.decode()

    assert "T1" in html
    assert edit_url(task) not in html
    assert client.post(edit_url(task), edit_data(task, name="New")).status_code == 403
    client.force_login(ProjectFactory().owner)
    assert client.get(page_url(task)).status_code == 404


def test_editing_saves_through_the_services_and_answers_the_fields(browser, project):
    task = TaskFactory(project=project, key="T1", name="Old", priority="low")

    response = browser.post(
        edit_url(task),
        edit_data(task, name="New name", description="Why", priority="high", status="done"),
        **HTMX,
    )

    assert response.status_code == 200
    assert 'id="task-fields"' in response.content.decode()
    task.refresh_from_db()
    assert (task.name, task.description, task.priority) == ("New name", "Why", "high")
    assert task.status == Task.Status.DONE
    assert task.completed_at is not None


def test_a_forbidden_status_is_refused_with_its_reason(browser, project):
    first = TaskFactory(project=project, key="A1")
    task = TaskFactory(project=project, key="A2", name="Old")
    TaskDependencyFactory(task=task, depends_on=first)

    response = browser.post(edit_url(task), edit_data(task, status="done"), **HTMX)

    assert response.status_code == 400
    assert "A2 cannot move to done: it waits for A1, not done yet." in response.content.decode()
    task.refresh_from_db()
    assert task.status == Task.Status.PENDING


def test_an_invalid_edit_is_400_and_changes_nothing(browser, project):
    task = TaskFactory(project=project, key="T1", name="Old")

    response = browser.post(edit_url(task), edit_data(task, name="", priority="urgent"))

    assert response.status_code == 400
    task.refresh_from_db()
    assert task.name == "Old"


def test_plain_edit_redirects_to_the_page(browser, project):
    task = TaskFactory(project=project, key="T1")

    response = browser.post(edit_url(task), edit_data(task, name="Renamed"))

    assert response.status_code == 302
    assert response.headers["Location"] == page_url(task)


def test_adding_a_dependency_that_closes_a_cycle_shows_the_path(browser, project):
    a = TaskFactory(project=project, key="A")
    b = TaskFactory(project=project, key="B")
    c = TaskFactory(project=project, key="C")
    TaskDependencyFactory(task=b, depends_on=a)
    TaskDependencyFactory(task=c, depends_on=b)

    response = browser.post(add_dependency_url(a), {"dependency-key": "C"}, **HTMX)

    assert response.status_code == 400
    assert "This dependency would close a cycle: A -&gt; C -&gt; B -&gt; A" in (
        response.content.decode()
    )
    assert not TaskDependency.objects.filter(task=a).exists()


def test_adding_and_removing_a_dependency(browser, project):
    a = TaskFactory(project=project, key="A")
    b = TaskFactory(project=project, key="B")

    added = browser.post(add_dependency_url(b), {"dependency-key": "A"}, **HTMX)
    edge = TaskDependency.objects.get(task=b, depends_on=a)
    removed = browser.post(
        reverse("planning:task-dependency-remove", args=[project.slug, "B", edge.pk]), **HTMX
    )

    assert added.status_code == 200
    assert f'href="{page_url(a)}"' in added.content.decode()
    assert removed.status_code == 200
    assert not TaskDependency.objects.filter(task=b).exists()


def test_an_unknown_dependency_key_is_400(browser, project: Project):
    task = TaskFactory(project=project, key="A")

    response = browser.post(add_dependency_url(task), {"dependency-key": "NOPE"}, **HTMX)

    assert response.status_code == 400
    assert "No task NOPE in this project." in response.content.decode()


def subtask_url(task: Task) -> str:
    return reverse("planning:task-subtask-add", args=[task.project.slug, task.key])


def test_adding_a_subtask_places_it_under_the_task(browser, project):
    feature = FeatureFactory(project=project, key="F1")
    task = TaskFactory(project=project, key="12", feature=feature)

    page = browser.get(page_url(task)).content.decode()
    response = browser.post(
        subtask_url(task), {"subtask-key": "12.1", "subtask-name": "Check it"}, **HTMX
    )

    assert 'value="12.1"' in page
    assert response.status_code == 200
    subtask = Task.objects.get(project=project, key="12.1")
    assert subtask.parent == task
    assert subtask.feature == feature
    assert f'href="{page_url(subtask)}"' in response.content.decode()
    assert f'href="{page_url(task)}"' in browser.get(page_url(subtask)).content.decode()


def test_a_subtask_with_a_taken_key_is_400_and_adds_nothing(browser, project):
    task = TaskFactory(project=project, key="12")
    TaskFactory(project=project, key="12.1")

    response = browser.post(
        subtask_url(task), {"subtask-key": "12.1", "subtask-name": "Again"}, **HTMX
    )

    assert response.status_code == 400
    assert not task.subtasks.exists()


def test_viewers_cannot_add_subtasks(client, project, viewer):
    task = TaskFactory(project=project, key="12")
    client.force_login(viewer)

    assert (
        client.post(subtask_url(task), {"subtask-key": "12.1", "subtask-name": "X"}).status_code
        == 403
    )
    assert not task.subtasks.exists()


# The assignee, edited in place ---------------------------------------------------------


def assign_url(task: Task) -> str:
    return reverse("planning:task-assign", args=[task.project.slug, task.key])


def test_an_editor_gives_the_task_to_an_agent_of_the_project_in_place(browser, project):
    agent = AgentFactory(project=project, name="coder-2")
    AgentFactory(project=ProjectFactory(), name="elsewhere")
    task = TaskFactory(project=project, key="T1")

    page = browser.get(page_url(task)).content.decode()
    assert '<select id="task-agent" name="agent">' in page
    assert f'<option value="{agent.pk}">coder-2</option>' in page
    assert "elsewhere" not in page  # only the project's agents are offered

    response = browser.post(assign_url(task), {"agent": agent.pk}, **HTMX)

    assert response.status_code == 200
    assert "plan-changed" in response.headers["HX-Trigger"]
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="task-who">')
    assert f'<option value="{agent.pk}" selected>coder-2</option>' in html
    task.refresh_from_db()
    assert task.assigned_agent == agent

    assert browser.post(assign_url(task), {"agent": ""}, **HTMX).status_code == 200
    task.refresh_from_db()
    assert task.assigned_agent is None


def test_another_projects_agent_or_a_task_in_progress_is_refused(browser, project):
    stranger = AgentFactory(project=ProjectFactory(), name="elsewhere")
    agent = AgentFactory(project=project, name="coder-2")
    task = TaskFactory(project=project, key="T1")
    busy = TaskFactory(project=project, key="T2", status="in_progress")

    refused = browser.post(assign_url(task), {"agent": stranger.pk}, **HTMX)
    assert refused.status_code == 400
    assert "Select a valid choice" in refused.content.decode()

    refused = browser.post(assign_url(busy), {"agent": agent.pk}, **HTMX)
    assert refused.status_code == 400
    assert "T2 is in progress; cancel its run" in refused.content.decode()

    for t in (task, busy):
        t.refresh_from_db()
        assert t.assigned_agent is None


def test_a_plain_assignment_redirects_and_viewers_and_strangers_cannot(
    client, browser, project, viewer
):
    agent = AgentFactory(project=project)
    task = TaskFactory(project=project, key="T1")

    response = browser.post(assign_url(task), {"agent": agent.pk})
    assert response.status_code == 302
    assert response.url == page_url(task)

    client.force_login(viewer)
    assert "task-agent" not in client.get(page_url(task)).content.decode()
    assert client.post(assign_url(task), {"agent": ""}).status_code == 403
    other = TaskFactory(project=ProjectFactory(), key="X1")
    assert browser.post(assign_url(other), {"agent": ""}).status_code == 404
    task.refresh_from_db()
    assert task.assigned_agent == agent


def test_the_page_loads_what_agents_did_after_it_opens(browser, project):
    task = TaskFactory(project=project, key="T1")

    html = browser.get(page_url(task)).content.decode()

    record = reverse("agents:task-record", args=[project.slug, "T1"])
    assert f'<div id="task-record" hx-get="{record}" hx-trigger="load"' in html
