"""The plan through an agent key: reading it, its task's status, discovered tasks,
subtasks and dependencies, and the plan a claim carries."""

import pytest
from rest_framework.test import APIClient

from agents import services
from agents.models import Agent, AgentRun
from core.text import natural_sort_key
from planning.models import Project, Task, TaskDependency
from tests.factories import AgentFactory, FeatureFactory, SubFeatureFactory, TaskFactory

pytestmark = pytest.mark.django_db


def url(project: Project, path: str) -> str:
    return f"/api/v1/projects/{project.slug}/{path}"


def external_agent(
    project: Project, name: str = "claude-1", *, may_add_tasks: bool = True
) -> tuple[Agent, APIClient]:
    agent = AgentFactory(
        project=project, name=name, type=Agent.Type.EXTERNAL, may_add_tasks=may_add_tasks
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Agent {services.agent_key_issue(agent=agent).key}")
    return agent, client


@pytest.fixture
def gsd_plan(project):
    plan = SubFeatureFactory(
        feature=FeatureFactory(project=project, key="01"),
        key="01-01",
        objective="Parse plans without losing a byte.",
        must_haves={"truths": ["BOMs are kept"]},
        extra={"context": "@planning/importers/gsd.py"},
    )
    TaskFactory(
        project=project, key="01-01-T1", name="Read the BOM", feature=plan.feature, sub_feature=plan
    )
    return plan


def test_a_claim_carries_the_plan_and_the_facts_about_its_task(project, gsd_plan):
    _, client = external_agent(project)
    client.post(
        url(project, "agent/memory/"),
        {"subject": "BOM handling", "learned": "Read the BOM before decoding."},
        format="json",
    )

    claimed = client.post(url(project, "tasks/claim/"), {}, format="json")

    assert claimed.status_code == 201, claimed.data
    assert claimed.data["plan"] == {
        "key": "01-01",
        "name": gsd_plan.name,
        "objective": "Parse plans without losing a byte.",
        "context": "@planning/importers/gsd.py",
        "must_haves": {"truths": ["BOMs are kept"]},
    }
    assert [fact["subject"] for fact in claimed.data["memory"]] == ["BOM handling"]


def test_an_agent_reads_the_plan_its_tasks_and_the_next_one(project, gsd_plan):
    TaskFactory(project=project, key="X", status="done")
    _, client = external_agent(project)

    plan = client.get(url(project, "agent/plan/"))
    assert plan.status_code == 200
    assert "01-01-T1" in plan.data["markdown"] and "Read the BOM" in plan.data["markdown"]

    listed = client.get(url(project, "agent/tasks/"), {"status": "pending"})
    assert [task["key"] for task in listed.data["results"]] == ["01-01-T1"]
    ready = client.get(url(project, "agent/tasks/"), {"ready": "true"})
    assert [task["key"] for task in ready.data["results"]] == ["01-01-T1"]
    assert client.get(url(project, "agent/tasks/next/")).data["key"] == "01-01-T1"
    assert client.get(url(project, "agent/tasks/01-01-T1/")).data["sub_feature"] == "01-01"
    analytics = client.get(url(project, "agent/analytics/"))
    assert analytics.status_code == 200 and "critical_path" in analytics.data


def test_listing_tasks_takes_a_fixed_number_of_queries(
    project, gsd_plan, django_assert_max_num_queries
):
    for n in range(30):
        TaskFactory(project=project, key=f"T{n}")
    _, client = external_agent(project)
    with django_assert_max_num_queries(8):
        assert client.get(url(project, "agent/tasks/")).data["count"] == 31


def chains_of_ten(project: Project, count: int, *, first_depends_on_done: bool) -> None:
    """`count` tasks outside plans in chains of ten, the first tenth done: each waits for
    the one before it, so a tenth of the pending ones are ready. With
    `first_depends_on_done`, the first of each pending chain also waits for a done task,
    so no ready task is free of dependencies."""
    Task.objects.bulk_create(
        Task(
            project=project,
            key=str(n),
            sort_key=natural_sort_key(str(n)),
            name=f"Task {n}",
            status="done" if n <= count // 10 else "pending",
            priority=("high", "medium", "low")[n % 3],
        )
        for n in range(1, count + 1)
    )
    ids = dict(project.tasks.values_list("key", "id"))
    TaskDependency.objects.bulk_create(
        TaskDependency(task_id=ids[str(n)], depends_on_id=ids[str(n - 1)])
        for n in range(2, count + 1)
        if n % 10 != 1 or (first_depends_on_done and n > count // 10)
    )


@pytest.mark.parametrize("first_depends_on_done", [False, True], ids=["free", "waited"])
@pytest.mark.parametrize("count", [10, 10_000])
def test_the_next_task_takes_a_fixed_number_of_queries(
    project, count, first_depends_on_done, django_assert_max_num_queries
):
    chains_of_ten(project, count, first_depends_on_done=first_depends_on_done)
    _, client = external_agent(project)
    first_pending = count // 10 + 1
    ready = {first_pending} | (
        set() if first_depends_on_done else set(range(first_pending, count + 1, 10))
    )
    # Higher priority first (n % 3 == 0 is high), then key.
    expected = str(min(ready, key=lambda n: (n % 3 != 0, n % 3 == 2, n)))
    # The agent; started tasks and plans; the best group; the winner, and its
    # dependency keys.
    with django_assert_max_num_queries(6):
        response = client.get(url(project, "agent/tasks/next/"))
    assert response.status_code == 200
    assert response.data["key"] == expected


def test_another_project_is_a_404_for_every_agent_route(project, other_project):
    TaskFactory(project=other_project, key="T1")
    _, client = external_agent(project)
    for path in ("agent/plan/", "agent/tasks/", "agent/tasks/T1/", "agent/memory/", "agent/state/"):
        assert client.get(url(other_project, path)).status_code == 404, path
    assert (
        client.post(url(other_project, "agent/tasks/"), {"name": "x"}, format="json").status_code
        == 404
    )
    # And a task key of another project is no task of this one.
    assert client.get(url(project, "agent/tasks/T1/")).status_code == 404


def test_a_bad_key_is_a_401(project):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Agent cbk_wrong")
    assert client.get(url(project, "agent/tasks/")).status_code == 401


def test_an_agent_sets_the_status_of_the_task_it_holds(project, gsd_plan):
    agent, client = external_agent(project)
    TaskFactory(project=project, key="Z", priority="low")
    assert client.post(url(project, "tasks/claim/"), {}, format="json").status_code == 201

    blocked = client.post(
        url(project, "agent/tasks/01-01-T1/status/"), {"status": "blocked"}, format="json"
    )
    assert blocked.status_code == 200 and blocked.data["status"] == "blocked"
    not_its = client.post(
        url(project, "agent/tasks/Z/status/"), {"status": "blocked"}, format="json"
    )
    assert not_its.status_code == 409
    assert Task.objects.get(key="Z").status == "pending"
    bad = client.post(
        url(project, "agent/tasks/01-01-T1/status/"), {"status": "cancelled"}, format="json"
    )
    assert bad.status_code == 400

    working = client.post(
        url(project, "agent/tasks/01-01-T1/status/"), {"status": "in_progress"}, format="json"
    )
    assert working.data["status"] == "in_progress"
    done = client.post(
        url(project, "agent/tasks/01-01-T1/status/"), {"status": "done"}, format="json"
    )

    assert done.data["status"] == "done"
    run = AgentRun.objects.get(agent=agent)
    assert run.status == AgentRun.Status.SUCCEEDED
    agent.refresh_from_db()
    assert agent.status == Agent.Status.IDLE


def test_giving_a_task_back_fails_the_run_and_requeues_it(project, gsd_plan):
    agent, client = external_agent(project)
    client.post(url(project, "tasks/claim/"), {}, format="json")

    back = client.post(
        url(project, "agent/tasks/01-01-T1/status/"), {"status": "pending"}, format="json"
    )

    assert back.data["status"] == "pending" and back.data["assigned_agent"] is None
    assert AgentRun.objects.get(agent=agent).status == AgentRun.Status.FAILED


def test_an_agent_adds_the_tasks_and_subtasks_it_discovers(project, gsd_plan):
    _, client = external_agent(project)
    client.post(url(project, "tasks/claim/"), {}, format="json")

    added = client.post(
        url(project, "agent/tasks/"),
        {"name": "Handle UTF-16", "depends_on": ["01-01-T1"], "priority": "high"},
        format="json",
    )
    assert added.status_code == 201, added.data
    # It joins the plan of the task the agent works on.
    assert added.data["key"] == "01-01-T2"
    assert added.data["sub_feature"] == "01-01" and added.data["depends_on"] == ["01-01-T1"]
    assert added.data["extra"]["added_by"] == "claude-1"

    first = client.post(
        url(project, "agent/tasks/01-01-T1/subtasks/"), {"name": "A"}, format="json"
    )
    second = client.post(
        url(project, "agent/tasks/01-01-T1/subtasks/"), {"name": "B"}, format="json"
    )

    assert (first.data["key"], second.data["key"]) == ("01-01-T1.1", "01-01-T1.2")
    # Subtasks as Task Master has them: under their task, in its place, with its priority.
    assert (first.data["parent"], second.data["parent"]) == ("01-01-T1", "01-01-T1")
    assert first.data["sub_feature"] == "01-01"
    assert first.data["priority"] == Task.objects.get(key="01-01-T1").priority
    parent = client.get(url(project, "agent/tasks/01-01-T1/")).data
    assert parent["depends_on"] == []
    nested = client.post(
        url(project, "agent/tasks/01-01-T1.1/subtasks/"), {"name": "C"}, format="json"
    )
    assert nested.status_code == 400
    assert "one level deep" in str(nested.data)


def test_without_its_flag_an_agent_changes_no_task(project, gsd_plan):
    _, client = external_agent(project, may_add_tasks=False)
    refused = [
        client.post(url(project, "agent/tasks/"), {"name": "New"}, format="json"),
        client.post(url(project, "agent/tasks/01-01-T1/subtasks/"), {"name": "Sub"}, format="json"),
        client.patch(url(project, "agent/tasks/01-01-T1/"), {"name": "Renamed"}, format="json"),
    ]
    assert [answer.status_code for answer in refused] == [403, 403, 403]
    assert "may_add_tasks" in refused[0].data["detail"]
    assert list(Task.objects.values_list("key", "name")) == [("01-01-T1", "Read the BOM")]


def test_an_agent_edits_a_task_but_not_its_status_or_place(project, gsd_plan):
    _, client = external_agent(project)
    edited = client.patch(
        url(project, "agent/tasks/01-01-T1/"), {"description": "Mind UTF-32 too."}, format="json"
    )
    assert edited.status_code == 200 and edited.data["description"] == "Mind UTF-32 too."
    ignored = client.patch(url(project, "agent/tasks/01-01-T1/"), {"status": "done"}, format="json")
    assert ignored.data["status"] == "pending"


def test_dependencies_refuse_a_cycle_and_can_be_removed(project):
    TaskFactory(project=project, key="A")
    TaskFactory(project=project, key="B")
    _, client = external_agent(project)

    added = client.post(
        url(project, "agent/tasks/B/dependencies/"), {"depends_on": "A"}, format="json"
    )
    assert added.status_code == 201 and added.data["depends_on"] == ["A"]
    cycle = client.post(
        url(project, "agent/tasks/A/dependencies/"), {"depends_on": "B"}, format="json"
    )
    assert cycle.status_code == 400
    assert "A -> B -> A" in str(cycle.data) or "B -> A -> B" in str(cycle.data)
    again = client.post(
        url(project, "agent/tasks/B/dependencies/"), {"depends_on": "A"}, format="json"
    )
    assert again.status_code == 409

    removed = client.delete(url(project, "agent/tasks/B/dependencies/A/"))

    assert removed.status_code == 200 and removed.data["depends_on"] == []
    assert not TaskDependency.objects.exists()
    assert client.delete(url(project, "agent/tasks/B/dependencies/A/")).status_code == 400


def test_an_owner_lets_an_agent_add_tasks(project, gsd_plan, api: APIClient):
    agent, client = external_agent(project, may_add_tasks=False)
    assert (
        client.post(url(project, "agent/tasks/"), {"name": "New"}, format="json").status_code == 403
    )

    allowed = api.patch(url(project, f"agents/{agent.pk}/"), {"may_add_tasks": True}, format="json")

    assert allowed.status_code == 200 and allowed.data["may_add_tasks"] is True
    added = client.post(url(project, "agent/tasks/"), {"name": "New"}, format="json")
    assert added.status_code == 201 and added.data["key"] == "T1"
    assert client.get("/api/v1/agent/").data == {
        "id": agent.pk,
        "name": "claude-1",
        "project": project.slug,
        "may_add_tasks": True,
        "run": None,
    }
