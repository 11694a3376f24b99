"""Work sent back by a review honours the rule claims follow: two tasks whose files
overlap are never in progress at once. While another task in progress names one of its
files, the task waits, pending for its agent, and its run resumes at the first dispatch
that finds the files free. The model is the loopback fake OpenAI server."""

import sys
from pathlib import Path

import pytest

from agents.models import Agent, AgentRun
from agents.services import orchestrator, reviews, runs
from planning import services as planning_services
from planning.models import Task
from tests.agents.reviewing import attempt_in_review
from tests.factories import AgentFactory, TaskFactory
from tests.fakes.openai_server import completion, tool_call
from tests.gitrepos import make_repo

pytestmark = pytest.mark.django_db


@pytest.fixture
def coding_project(project, tmp_path, settings):
    settings.WORKSPACES_DIR = tmp_path / "worktrees"
    repo = make_repo(tmp_path / "repo", {"README.md": "calc\n"})
    project.root_path = str(repo)
    project.enabled_tools = ["read_file", "write_file", "git_commit"]
    project.verify_command = f"{sys.executable} -c pass"
    project.status = "active"
    project.max_concurrent_runs = 3
    project.save()
    return project


def _in_review_beside_a_holder(project, tmp_path):
    """T1 in review naming calc.py, and T2 in progress (an external agent's) naming the
    same file, written differently."""
    task, attempt = attempt_in_review(
        project,
        Path(project.root_path),
        key="T1",
        files={"calc.py": "x = 1\n"},
        worktrees=tmp_path / "worktrees",
    )
    Task.objects.filter(pk=task.pk).update(files=["calc.py"])
    task.refresh_from_db()
    holder = AgentFactory(project=project, name="elsewhere", type=Agent.Type.EXTERNAL)
    other = TaskFactory(
        project=project,
        key="T2",
        files=["./calc.py"],
        status="in_progress",
        assigned_agent=holder,
    )
    return task, attempt, other


def _in_progress(project) -> list[str]:
    return sorted(project.tasks.filter(status="in_progress").values_list("key", flat=True))


def test_changes_asked_by_a_person_wait_while_another_task_holds_the_files(
    coding_project, tmp_path, user, coding_model
):
    task, attempt, other = _in_review_beside_a_holder(coding_project, tmp_path)

    reviews.review_submit(task=task, verdict="request_changes", body="again", reviewer=user)

    task.refresh_from_db()
    attempt.refresh_from_db()
    assert (task.status, task.assigned_agent) == ("pending", attempt.agent)
    assert task.qa_iterations == 1
    assert (attempt.status, attempt.stage) == ("queued", "coding")
    assert _in_progress(coding_project) == ["T2"]
    # The files are still held: the run keeps waiting, and no new run starts on the task.
    assert orchestrator.dispatch(project=coding_project) == []
    assert AgentRun.objects.filter(task=task).count() == 1
    assert _in_progress(coding_project) == ["T2"]

    planning_services.task_update(task=other, data={"status": "done"})
    [resumed] = orchestrator.dispatch(project=coding_project)

    assert (resumed.pk, resumed.status) == (attempt.pk, "running")
    task.refresh_from_db()
    assert (task.status, task.assigned_agent) == ("in_progress", attempt.agent)
    assert AgentRun.objects.filter(task=task).count() == 1


def test_an_agent_whose_sent_back_work_waits_for_files_takes_other_work_meanwhile(
    coding_project, tmp_path, user, coding_model
):
    task, attempt, _ = _in_review_beside_a_holder(coding_project, tmp_path)
    TaskFactory(project=coding_project, key="T3", files=["docs/index.md"])
    reviews.review_submit(task=task, verdict="request_changes", body="again", reviewer=user)

    [started] = orchestrator.dispatch(project=coding_project)

    assert (started.task.key, started.agent) == ("T3", attempt.agent)
    assert _in_progress(coding_project) == ["T2", "T3"]
    attempt.refresh_from_db()
    assert attempt.status == "queued"


def test_changes_asked_while_the_files_are_free_go_straight_back_in_progress(
    coding_project, tmp_path, user, coding_model
):
    task, attempt, other = _in_review_beside_a_holder(coding_project, tmp_path)
    planning_services.task_update(task=other, data={"status": "done"})

    reviews.review_submit(task=task, verdict="request_changes", body="again", reviewer=user)

    task.refresh_from_db()
    attempt.refresh_from_db()
    assert (task.status, attempt.status) == ("in_progress", "running")


def test_changes_asked_by_a_reviewer_agent_wait_for_the_files_too(
    coding_project, tmp_path, fake_llm, eager_celery, django_capture_on_commit_callbacks
):
    coding_project.review = "agent"
    coding_project.save()
    task, attempt, _ = _in_review_beside_a_holder(coding_project, tmp_path)
    AgentFactory(project=coding_project, name="reviewer-1", type="reviewer")
    fake_llm.script(
        completion(
            None,
            tool_calls=[
                tool_call(
                    "r1",
                    "review_submit",
                    {"verdict": "request_changes", "summary": "not yet", "comments": []},
                )
            ],
        ),
    )

    with django_capture_on_commit_callbacks(execute=True):
        [review_run] = orchestrator.dispatch(project=coding_project)

    review_run.refresh_from_db()
    assert (review_run.kind, review_run.status) == ("review", "succeeded")
    task.refresh_from_db()
    attempt.refresh_from_db()
    assert (task.status, task.assigned_agent) == ("pending", attempt.agent)
    assert attempt.status == "queued"
    assert _in_progress(coding_project) == ["T2"]


@pytest.mark.parametrize(
    "change", [{"assigned_agent": None}, {"status": "cancelled", "assigned_agent": None}]
)
def test_sent_back_work_whose_task_a_person_changed_meanwhile_is_cancelled_not_resumed(
    coding_project, tmp_path, user, coding_model, change
):
    task, attempt, other = _in_review_beside_a_holder(coding_project, tmp_path)
    # More work, so the project stays active once T1 and T2 are closed.
    TaskFactory(project=coding_project, key="T3", files=["docs/index.md"])
    reviews.review_submit(task=task, verdict="request_changes", body="again", reviewer=user)
    # While it waits for the files, a person takes the task back (or cancels it).
    task.refresh_from_db()
    planning_services.task_update(task=task, data=change)
    planning_services.task_update(task=other, data={"status": "done"})

    orchestrator.dispatch(project=coding_project)

    attempt.refresh_from_db()
    assert (attempt.status, attempt.error) == ("cancelled", runs.REOPENED_TASK_CHANGED)
    live = AgentRun.objects.filter(task=task, status__in=AgentRun.ACTIVE_STATUSES)
    assert live.count() <= 1 and not live.filter(pk=attempt.pk).exists()
