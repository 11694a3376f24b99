"""Work sent back by a review waits, queued, for its agent or its task's files, and only
a dispatch resumes it; a dispatch serves active projects only. The periodic sweep
cancels such a run once its project has finished for good, so that it never waits
forever holding its task; in a project that may run again it keeps waiting."""

import sys
from pathlib import Path

import pytest

from agents import tasks
from agents.models import Agent, AgentRun, Metric
from agents.services import orchestrator, reviews, runs
from agents.services.runs import sweeps
from planning import services as planning_services
from planning.models import Project, Task
from tests.agents.reviewing import attempt_in_review
from tests.factories import AgentFactory, TaskFactory
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


def _sent_back(project, tmp_path, user, *, waits_for: str) -> tuple[Task, AgentRun]:
    """T1 (naming calc.py) sent back by a person's review, its run waiting: for its
    agent, busy with T9 (T1 is in progress again, holding calc.py), or for calc.py,
    which T2 in progress names (T1 is pending for its agent, which is idle)."""
    task, attempt = attempt_in_review(
        project,
        Path(project.root_path),
        key="T1",
        files={"calc.py": "x = 1\n"},
        worktrees=tmp_path / "worktrees",
    )
    Task.objects.filter(pk=task.pk).update(files=["calc.py"])
    coder = attempt.agent
    if waits_for == "agent":
        elsewhere = TaskFactory(
            project=project, key="T9", files=["docs/index.md"], status="in_progress"
        )
        Task.objects.filter(pk=elsewhere.pk).update(assigned_agent=coder)
        Agent.objects.filter(pk=coder.pk).update(status="busy", current_task=elsewhere)
    else:
        holder = AgentFactory(project=project, name="elsewhere", type=Agent.Type.EXTERNAL)
        TaskFactory(
            project=project,
            key="T2",
            files=["calc.py"],
            status="in_progress",
            assigned_agent=holder,
        )
    task.refresh_from_db()
    reviews.review_submit(task=task, verdict="request_changes", body="again", reviewer=user)
    task.refresh_from_db()
    attempt.refresh_from_db()
    expected = "in_progress" if waits_for == "agent" else "pending"
    assert (attempt.status, task.status, task.assigned_agent_id) == (
        "queued",
        expected,
        coder.pk,
    )
    assert runs.WAITS_FOR_AGENT in attempt.result
    return task, attempt


def _project_status(project, status: str) -> None:
    planning_services.project_update(project=project, data={"status": status})


def _calc_free_for_another_task(project) -> bool:
    other = TaskFactory(project=project, key="T4", files=["calc.py"])
    return planning_services.task_files_reserve(
        project_id=project.pk, task_id=other.pk, files=other.files
    )


@pytest.mark.parametrize("waits_for", ["agent", "files"])
def test_sent_back_work_waiting_in_an_archived_project_is_cancelled_by_the_periodic_sweep(
    coding_project, tmp_path, user, coding_model, waits_for
):
    task, attempt = _sent_back(coding_project, tmp_path, user, waits_for=waits_for)
    coder = attempt.agent
    _project_status(coding_project, "archived")

    tasks.recover_stale_runs()

    attempt.refresh_from_db()
    assert (attempt.status, attempt.error) == ("cancelled", runs.REOPENED_PROJECT_ARCHIVED)
    assert attempt.finished_at is not None
    task.refresh_from_db()
    assert (task.status, task.assigned_agent) == ("pending", None)
    # Nothing waits for the agent any more; one at work elsewhere carries on with it.
    assert runs.reopened_waiting(project=coding_project, agent_ids=[coder.pk]) == {}
    coder.refresh_from_db()
    if waits_for == "agent":
        assert (coder.status, coder.current_task.key) == ("busy", "T9")
        # T1 let calc.py go.
        assert _calc_free_for_another_task(coding_project)
    else:
        assert (coder.status, coder.current_task) == ("idle", None)
    coding_project.refresh_from_db()
    assert coding_project.status == "archived"


def test_sent_back_work_whose_task_a_person_closed_is_cancelled_once_the_project_completes(
    coding_project, tmp_path, user, coding_model
):
    task, attempt = _sent_back(coding_project, tmp_path, user, waits_for="files")
    # A person cancels T1 as it waits, and T2 is done: every task is closed, so the
    # roll-up completes the project, and no dispatch comes to cancel the run.
    planning_services.task_update(task=task, data={"status": "cancelled", "assigned_agent": None})
    planning_services.task_update(
        task=Task.objects.get(project=coding_project, key="T2"), data={"status": "done"}
    )
    coding_project.refresh_from_db()
    assert coding_project.status == "completed"

    assert runs.stranded_reopened_cancel() == 1

    attempt.refresh_from_db()
    assert (attempt.status, attempt.error) == ("cancelled", runs.REOPENED_TASK_CHANGED)
    task.refresh_from_db()
    assert task.status == "cancelled"
    assert runs.reopened_waiting(project=coding_project, agent_ids=[attempt.agent_id]) == {}
    coding_project.refresh_from_db()
    assert (coding_project.status, coding_project.completed_at is not None) == (
        "completed",
        True,
    )


def test_sent_back_work_of_a_project_completed_by_hand_with_its_task_open_keeps_waiting(
    coding_project, tmp_path, user, coding_model, django_assert_num_queries
):
    # Its task is work left: the project is active again at the next change of a task
    # (the roll-up), and the run then resumes with its review rather than afresh.
    task, attempt = _sent_back(coding_project, tmp_path, user, waits_for="agent")
    _project_status(coding_project, "completed")

    # Passed by in the listing itself: nothing is locked at every sweep.
    with django_assert_num_queries(1):
        assert runs.stranded_reopened_cancel() == 0

    attempt.refresh_from_db()
    task.refresh_from_db()
    assert (attempt.status, task.status, task.assigned_agent) == (
        "queued",
        "in_progress",
        attempt.agent,
    )
    _project_status(coding_project, "active")
    Agent.objects.filter(pk=attempt.agent_id).update(status="idle", current_task=None)
    [resumed] = orchestrator.dispatch(project=coding_project)
    assert (resumed.pk, resumed.status) == (attempt.pk, "running")


def test_sent_back_work_whose_task_a_person_moved_keeps_waiting_in_a_project_completed_by_hand(
    coding_project, tmp_path, user, coding_model
):
    # Blocked is open: cancelling would send the task back to pending over the person's
    # choice, and the roll-up would make the project active again to hand it out.
    task, attempt = _sent_back(coding_project, tmp_path, user, waits_for="agent")
    planning_services.task_update(task=task, data={"status": "blocked"})
    _project_status(coding_project, "completed")

    assert runs.stranded_reopened_cancel() == 0

    attempt.refresh_from_db()
    task.refresh_from_db()
    assert (attempt.status, task.status) == ("queued", "blocked")
    coding_project.refresh_from_db()
    assert coding_project.status == "completed"


@pytest.mark.parametrize("status", ["paused", "active"])
def test_sent_back_work_of_a_project_that_may_run_is_left_to_the_dispatch(
    coding_project, tmp_path, user, coding_model, status
):
    task, attempt = _sent_back(coding_project, tmp_path, user, waits_for="agent")
    if status == "paused":
        orchestrator.project_run_pause(project=coding_project)

    assert runs.stranded_reopened_cancel() == 0

    attempt.refresh_from_db()
    task.refresh_from_db()
    assert (attempt.status, task.status, task.assigned_agent) == (
        "queued",
        "in_progress",
        attempt.agent,
    )
    assert runs.WAITS_FOR_AGENT in attempt.result
    # Its agent free, the run resumes at the first dispatch of the running project.
    Agent.objects.filter(pk=attempt.agent_id).update(status="idle", current_task=None)
    coding_project.refresh_from_db()
    assert [r.pk for r in orchestrator.dispatch(project=coding_project)] == (
        [] if status == "paused" else [attempt.pk]
    )
    attempt.refresh_from_db()
    assert attempt.status == ("queued" if status == "paused" else "running")


def test_the_sweep_of_stranded_sent_back_work_changes_nothing_the_second_time(
    coding_project, tmp_path, user, coding_model
):
    _, attempt = _sent_back(coding_project, tmp_path, user, waits_for="agent")
    _project_status(coding_project, "archived")

    def state():
        return (
            list(AgentRun.objects.filter(project=coding_project).order_by("pk").values()),
            list(Task.objects.filter(project=coding_project).order_by("pk").values()),
            list(Agent.objects.filter(project=coding_project).order_by("pk").values()),
            Metric.objects.filter(project=coding_project).count(),
            Project.objects.filter(pk=coding_project.pk).values().get(),
        )

    assert runs.stranded_reopened_cancel() == 1
    after_first = state()

    assert runs.stranded_reopened_cancel() == 0
    assert state() == after_first
    attempt.refresh_from_db()
    assert attempt.status == "cancelled"


def test_the_sweep_leaves_alone_sent_back_work_resumed_after_it_was_listed(
    coding_project, tmp_path, user, coding_model, monkeypatch
):
    # The sweep lists the waiting runs, then takes each under its locks: one that a
    # dispatch resumed in between is found running there, and left to its worker.
    _, attempt = _sent_back(coding_project, tmp_path, user, waits_for="agent")
    _project_status(coding_project, "archived")
    lock = sweeps.run_agent_lock

    def resumed_first(*, run_id):
        AgentRun.objects.filter(pk=run_id).update(status="running")
        return lock(run_id=run_id)

    monkeypatch.setattr(sweeps, "run_agent_lock", resumed_first)

    assert runs.stranded_reopened_cancel() == 0
    attempt.refresh_from_db()
    assert (attempt.status, attempt.error) == ("running", "")
