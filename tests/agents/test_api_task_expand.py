"""Expanding a task over the API: `tasks/{key}/expand/` for people, `agent/tasks/{key}/expand/`
for agents with `may_add_tasks`."""

import json

import pytest

from planning.models import Task
from tests.agents.test_api_agent_plan import external_agent, url
from tests.factories import FeatureFactory, SubFeatureFactory, TaskFactory
from tests.fakes.openai_server import completion

pytestmark = pytest.mark.django_db

STEPS = "- Write the migration\n- Backfill the rows\n- Drop the old column"


@pytest.fixture
def task(project) -> Task:
    plan = SubFeatureFactory(feature=FeatureFactory(project=project, key="01"), key="01-01")
    return TaskFactory(
        project=project,
        key="01-01-T1",
        name="Rename the column",
        description=STEPS,
        feature=plan.feature,
        sub_feature=plan,
    )


def test_a_person_expands_a_task_and_gets_its_subtasks(
    api, project, task, django_assert_max_num_queries
):
    with django_assert_max_num_queries(25):
        answer = api.post(url(project, "tasks/01-01-T1/expand/"), {"num": 5}, format="json")
    assert answer.status_code == 201, answer.data
    assert answer.data["task"]["key"] == "01-01-T1"
    assert [(s["key"], s["parent"], s["sub_feature"]) for s in answer.data["subtasks"]] == [
        ("01-01-T1.1", "01-01-T1", "01-01"),
        ("01-01-T1.2", "01-01-T1", "01-01"),
        ("01-01-T1.3", "01-01-T1", "01-01"),
    ]
    assert answer.data["subtasks"][2]["depends_on"] == ["01-01-T1.2"]
    assert answer.data["replaced"] == []

    again = api.post(url(project, "tasks/01-01-T1/expand/"), {}, format="json")
    assert again.status_code == 409
    assert "Expand with force" in again.data["detail"]
    forced = api.post(url(project, "tasks/01-01-T1/expand/"), {"force": True}, format="json")
    assert forced.status_code == 201
    assert forced.data["replaced"] == ["01-01-T1.1", "01-01-T1.2", "01-01-T1.3"]


def test_bad_input_and_bad_model_output_are_clear_and_write_nothing(api, project, task, fake_llm):
    assert api.post(url(project, "tasks/01-01-T1/expand/"), {"num": 0}, format="json").data["num"]
    fake_llm.script(*(completion(json.dumps({"subtasks": "many"})) for _ in range(3)))
    answer = api.post(url(project, "tasks/01-01-T1/expand/"), {}, format="json")
    assert answer.status_code == 502
    assert "no valid subtasks for 01-01-T1 in 3 attempts" in answer.data["detail"]
    assert project.tasks.count() == 1


def test_offline_refusal_is_a_400_that_says_what_to_do(api, project):
    TaskFactory(project=project, key="T9", description="Make it faster")
    answer = api.post(url(project, "tasks/T9/expand/"), {}, format="json")
    assert answer.status_code == 400
    assert "List its steps in the description" in answer.data["detail"]


def test_viewers_may_not_expand_and_strangers_see_no_project(
    viewer_api, api, project, other_project, task
):
    assert (
        viewer_api.post(url(project, "tasks/01-01-T1/expand/"), {}, format="json").status_code
        == 403
    )
    TaskFactory(project=other_project, key="X", description=STEPS)
    assert api.post(url(other_project, "tasks/X/expand/"), {}, format="json").status_code == 404
    assert api.post(url(project, "tasks/NOPE/expand/"), {}, format="json").status_code == 404
    assert project.tasks.count() == 1


def test_an_agent_expands_only_with_may_add_tasks(project, task):
    _, refused = external_agent(project, "reader", may_add_tasks=False)
    answer = refused.post(url(project, "agent/tasks/01-01-T1/expand/"), {}, format="json")
    assert answer.status_code == 403
    assert "may_add_tasks" in answer.data["detail"]
    assert project.tasks.count() == 1

    _, allowed = external_agent(project, "planner-1")
    answer = allowed.post(url(project, "agent/tasks/01-01-T1/expand/"), {"num": 2}, format="json")
    assert answer.status_code == 201, answer.data
    assert [s["name"] for s in answer.data["subtasks"]] == [
        "Write the migration Backfill the rows",
        "Drop the old column",
    ]
    assert project.tasks.get(key="01-01-T1.1").extra == {"expanded_by": "planner-1"}
