"""Expanding a task into subtasks: the offline provider's honest split, and the openai
provider through the real SDK against a loopback server, with the plan generator's checks."""

import json

import pytest

from agents.models import Metric
from agents.services.task_expansion import task_expand
from core.errors import ConflictError, DomainError, UpstreamError
from planning.models import Task, TaskDependency
from tests.factories import TaskFactory
from tests.fakes.openai_server import completion, usage_body

pytestmark = pytest.mark.django_db

STEPS = """Make the importer stream its input:
- Read the file in chunks
- Parse each chunk as it arrives
- Write tasks in batches of 500
"""


def _subtasks(task: Task) -> list[tuple[str, str, list[str]]]:
    return [
        (sub.key, sub.name, sorted(sub.depends_on.values_list("key", flat=True)))
        for sub in task.subtasks.order_by("sort_key")
    ]


def test_offline_splits_the_description_by_its_list_items_in_order(project):
    task = TaskFactory(project=project, key="7", description=STEPS, priority="high")
    expansion = task_expand(task=task)
    assert _subtasks(task) == [
        ("7.1", "Read the file in chunks", []),
        ("7.2", "Parse each chunk as it arrives", ["7.1"]),
        ("7.3", "Write tasks in batches of 500", ["7.2"]),
    ]
    assert [sub.key for sub in expansion.subtasks] == ["7.1", "7.2", "7.3"]
    assert expansion.replaced == []
    first = task.subtasks.get(key="7.1")
    assert (first.parent_id, first.priority, first.status) == (task.pk, "high", "pending")
    assert Metric.objects.filter(type="token_usage", task=task).exists()


def test_offline_falls_back_on_sentences_and_groups_them_to_fit_num(project):
    task = TaskFactory(
        project=project, key="A", description="Add the column. Backfill it. Drop the old one."
    )
    task_expand(task=task, num=2)
    assert [(key, name) for key, name, _ in _subtasks(task)] == [
        ("A.1", "Add the column. Backfill it."),
        ("A.2", "Drop the old one."),
    ]


def test_offline_refuses_a_task_of_one_step_and_writes_nothing(project):
    task = TaskFactory(project=project, key="B", description="Make it faster")
    with pytest.raises(DomainError, match="offline provider splits a task by the list items"):
        task_expand(task=task)
    assert project.tasks.count() == 1


def test_a_model_reply_becomes_subtasks_keyed_under_the_task(project, fake_llm):
    task = TaskFactory(project=project, key="F1-T2", name="Login page")
    reply = {
        "subtasks": [
            {"key": "S1", "name": "Form", "verify": "pytest tests/test_form.py"},
            {"key": "S2", "name": "View", "depends_on": ["S1"], "priority": "high"},
            {"key": "S3", "name": "Template", "depends_on": ["S1", "S2"], "files": ["a.html"]},
        ]
    }
    fake_llm.script(completion(json.dumps(reply), usage=usage_body(200, 80)))
    task_expand(task=task, num=3)
    assert _subtasks(task) == [
        ("F1-T2.1", "Form", []),
        ("F1-T2.2", "View", ["F1-T2.1"]),
        ("F1-T2.3", "Template", ["F1-T2.1", "F1-T2.2"]),
    ]
    template = project.tasks.get(key="F1-T2.3")
    assert template.files == ["a.html"] and template.position == 3
    assert project.tasks.get(key="F1-T2.1").verify == "pytest tests/test_form.py"
    sent = fake_llm.requests[0].json
    assert sent["response_format"]["json_schema"]["schema"]["properties"]["subtasks"]
    assert "at most 3 subtasks" in sent["messages"][-1]["content"]
    assert '"name": "Login page"' in sent["messages"][-1]["content"]


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("not json", "does not match the subtask schema"),
        (json.dumps({"subtasks": []}), "subtasks: List should have at least 1 item"),
        (
            json.dumps({"subtasks": [{"key": f"S{n}", "name": "x"} for n in range(1, 4)]}),
            "the reply has 3 subtasks; give at most 2",
        ),
        (
            json.dumps(
                {
                    "subtasks": [
                        {"key": "S1", "name": "x", "depends_on": ["S2"]},
                        {"key": "S2", "name": "y", "depends_on": ["S1"]},
                    ]
                }
            ),
            "cycle",
        ),
        (json.dumps({"subtasks": [{"key": "S1", "name": "x", "depends_on": ["S9"]}]}), "S9"),
    ],
)
def test_an_invalid_reply_goes_back_to_the_model_with_its_problem(project, fake_llm, bad, problem):
    task = TaskFactory(project=project, key="C")
    good = {"subtasks": [{"key": "S1", "name": "One"}, {"key": "S2", "name": "Two"}]}
    fake_llm.script(completion(bad), completion(json.dumps(good)))
    task_expand(task=task, num=2)
    assert [key for key, _, _ in _subtasks(task)] == ["C.1", "C.2"]
    assert problem in fake_llm.requests[1].json["messages"][-1]["content"]


def test_three_invalid_replies_fail_clearly_and_write_nothing(project, fake_llm):
    task = TaskFactory(project=project, key="D")
    fake_llm.script(*(completion("{}") for _ in range(3)))
    with pytest.raises(UpstreamError, match="no valid subtasks for D in 3 attempts") as raised:
        task_expand(task=task)
    assert "subtasks: Field required" in str(raised.value)
    assert project.tasks.count() == 1


def test_an_unreachable_model_is_an_upstream_error(project, settings):
    settings.LLM_PROVIDER = "openai"
    settings.LLM_BASE_URL = "http://127.0.0.1:9/v1"
    settings.LLM_API_KEY = "sk-test"
    settings.LLM_MAX_RETRIES = 0
    settings.LLM_TIMEOUT_S = 2
    task = TaskFactory(project=project, key="E", description=STEPS)
    with pytest.raises(UpstreamError, match="could not be reached"):
        task_expand(task=task)
    assert project.tasks.count() == 1


def test_a_task_with_subtasks_needs_force_which_replaces_pending_ones(project):
    task = TaskFactory(project=project, key="9", description=STEPS)
    old = TaskFactory(project=project, key="9.1", parent=task, name="Old plan")
    with pytest.raises(ConflictError, match=r"already has subtasks \(9.1\)"):
        task_expand(task=task)
    assert list(task.subtasks.values_list("name", flat=True)) == ["Old plan"]
    expansion = task_expand(task=task, force=True)
    assert expansion.replaced == ["9.1"]
    assert not Task.objects.filter(pk=old.pk).exists()
    assert [key for key, _, _ in _subtasks(task)] == ["9.1", "9.2", "9.3"]


def test_force_refuses_when_a_subtask_started_or_another_task_waits_for_one(project):
    task = TaskFactory(project=project, key="9", description=STEPS)
    started = TaskFactory(project=project, key="9.1", parent=task, status="in_progress")
    with pytest.raises(ConflictError, match=r"9\.1 have started"):
        task_expand(task=task, force=True)
    started.status = "pending"
    started.save()
    TaskDependency.objects.create(task=TaskFactory(project=project, key="10"), depends_on=started)
    with pytest.raises(ConflictError, match="10 wait for 9's subtasks"):
        task_expand(task=task, force=True)
    assert list(task.subtasks.values_list("key", flat=True)) == ["9.1"]


def test_subtasks_finished_tasks_and_counts_out_of_range_are_refused(project):
    parent = TaskFactory(project=project, key="P", description=STEPS)
    sub = TaskFactory(project=project, key="P.1", parent=parent, description=STEPS)
    done = TaskFactory(project=project, key="Q", description=STEPS, status="done")
    with pytest.raises(DomainError, match=r"P\.1 is a subtask"):
        task_expand(task=sub)
    with pytest.raises(DomainError, match="Q is done"):
        task_expand(task=done)
    with pytest.raises(DomainError, match="1 to 20 subtasks"):
        task_expand(task=TaskFactory(project=project, key="R", description=STEPS), num=21)
    assert project.tasks.count() == 4


def test_new_keys_skip_ones_already_taken_in_the_project(project):
    task = TaskFactory(project=project, key="12", description=STEPS)
    TaskFactory(project=project, key="12.1")  # a task of that key, not a subtask of 12
    task_expand(task=task)
    assert [key for key, _, _ in _subtasks(task)] == ["12.2", "12.3", "12.4"]
