import pytest
from django.core.management import CommandError, call_command

from agents.models import AgentRun, DecisionLog
from agents.services import orchestrator, runs
from core.errors import ConflictError, DomainError
from planning.models import Project, Task, TaskDependency
from tests.factories import AgentFactory, TaskFactory

pytestmark = pytest.mark.django_db


def test_run_dispatches_ready_tasks_up_to_the_limit(
    plan, django_capture_on_commit_callbacks, coders
):
    coders(plan, 3)
    AgentFactory(project=plan, name="outside", type="external")
    plan.max_concurrent_runs = 2
    plan.save()
    with django_capture_on_commit_callbacks() as callbacks:
        started = orchestrator.project_run_start(project=plan)
    assert len(started) == 2 and len(callbacks) == 2  # one first step each
    assert {r.task.key for r in started} == {"A", "B"}  # C waits for A; H waits for a person
    assert set(Task.objects.filter(status="in_progress").values_list("key", flat=True)) == {
        "A",
        "B",
    }
    assert all(r.agent.type == "coder" and r.status == "running" for r in started)
    plan.refresh_from_db()
    assert plan.status == "active"
    assert orchestrator.dispatch(project=plan) == []  # at the limit


def test_dispatch_takes_tasks_in_the_order_next_and_claims_follow(
    project, django_capture_on_commit_callbacks, coding_model
):
    from planning.selectors import task_next_ready
    from tests.factories import FeatureFactory, SubFeatureFactory

    project.status, project.max_concurrent_runs = "active", 4
    project.save()
    feature = FeatureFactory(project=project)
    started, unstarted = SubFeatureFactory.create_batch(2, feature=feature)

    def task(plan, key, **fields):
        return TaskFactory(project=project, feature=feature, sub_feature=plan, key=key, **fields)

    task(started, "S0", status="in_progress")
    task(started, "S1", priority="low")
    task(unstarted, "U1", priority="high")
    done = task(unstarted, "U0", status="done")
    TaskDependency.objects.create(task=task(unstarted, "U2"), depends_on=done)
    task(unstarted, "U3")
    order = []
    for name in ("a", "b", "c", "d"):
        expected = task_next_ready(project=project)
        AgentFactory(project=project, name=name)
        with django_capture_on_commit_callbacks():
            [run] = orchestrator.dispatch(project=project)
        assert run.task == expected
        order.append(run.task.key)
    # The started plan first, then priority, then fewer dependencies.
    assert order == ["S1", "U1", "U3", "U2"]


def test_dispatch_gives_a_reserved_task_to_its_agent_and_prefers_coders(
    plan, django_capture_on_commit_callbacks, coding_model
):
    plan.max_concurrent_runs = 5
    plan.save()
    tester = AgentFactory(project=plan, name="a-tester", type="tester")
    AgentFactory(project=plan, name="b-coder")
    reserving = AgentFactory(project=plan, name="c-coder")
    external = AgentFactory(project=plan, name="claude", type="external")
    # B is kept for c-coder; a fourth task is kept for an agent that is not dispatched.
    Task.objects.filter(key="B").update(assigned_agent=reserving)
    TaskFactory(project=plan, key="E", priority="high", assigned_agent=external)
    with django_capture_on_commit_callbacks():
        started = orchestrator.project_run_start(project=plan)
    assert {(run.agent.name, run.task.key) for run in started} == {
        ("c-coder", "B"),
        ("b-coder", "A"),
    }
    assert Task.objects.get(key="E").status == "pending"  # waits for its agent
    tester.refresh_from_db()
    assert tester.status == "idle"  # no ready task left for it: C waits for A


def test_a_finished_run_frees_its_agent_and_dispatches_more(
    plan, django_capture_on_commit_callbacks, coders
):
    coders(plan, 1)
    with django_capture_on_commit_callbacks():
        [run] = orchestrator.project_run_start(project=plan)
    with django_capture_on_commit_callbacks(execute=True):
        runs.run_finish(run=run, succeeded=True, summary="done")
    assert Task.objects.get(key="A").status == "review"  # its work waits for a reviewer
    # dispatch_project was enqueued; run it here as the worker would
    [next_run] = orchestrator.dispatch(project=plan)
    assert next_run.task.key in ("B", "C")


def test_pause_stops_dispatch_and_resume_continues(
    plan, django_capture_on_commit_callbacks, coders
):
    coders(plan, 2)
    orchestrator.project_run_pause(project=plan)
    assert orchestrator.dispatch(project=plan) == []
    with django_capture_on_commit_callbacks():
        assert len(orchestrator.project_run_start(project=plan)) == 2


def test_cancel_stops_every_run_and_frees_tasks(plan, django_capture_on_commit_callbacks, coders):
    coders(plan, 2)
    with django_capture_on_commit_callbacks():
        orchestrator.project_run_start(project=plan)
    assert orchestrator.project_run_cancel(project=plan) == 2
    assert set(AgentRun.objects.values_list("status", flat=True)) == {"cancelled"}
    assert not Task.objects.filter(status="in_progress").exists()
    assert Project.objects.get(pk=plan.pk).status == "paused"
    with pytest.raises(ConflictError):
        runs.run_cancel(run=AgentRun.objects.first())


def test_a_project_without_agents_cannot_run(plan):
    with pytest.raises(DomainError, match="Add a coder"):
        orchestrator.project_run_start(project=plan)


def test_human_checkpoint_answers_are_logged_and_unblock_work(plan, user):
    task = Task.objects.get(key="H")
    orchestrator.human_checkpoint_answer(task=task, approved=True, actor=user, note="looks right")
    task.refresh_from_db()
    assert task.status == "done"
    decision = DecisionLog.objects.get(task_id=task.pk)
    assert decision.decision.startswith("alice approved H")
    assert decision.reasoning["note"] == "looks right"
    with pytest.raises(ConflictError):
        orchestrator.human_checkpoint_answer(task=task, approved=True)


def test_decision_checkpoints_need_one_of_their_options(project, user):
    task = TaskFactory(
        project=project,
        key="D",
        type="checkpoint:decision",
        extra={"options": [{"id": "feature"}, {"id": "plan"}]},
    )
    with pytest.raises(DomainError, match="Choose one of: feature, plan"):
        orchestrator.human_checkpoint_answer(task=task, approved=True, choice="other")
    orchestrator.human_checkpoint_answer(task=task, approved=True, choice="plan", actor=user)
    assert DecisionLog.objects.get().decision.startswith("alice chose plan D")
    with pytest.raises(DomainError, match="not a checkpoint"):
        orchestrator.human_checkpoint_answer(task=TaskFactory(project=project), approved=True)


def test_decision_options_are_chosen_by_their_ids_as_text(project, user):
    # `extra` is free JSON (the API writes it): an id may be a number, or missing.
    task = TaskFactory(
        project=project,
        key="D",
        type="checkpoint:decision",
        extra={"options": [{"id": 1, "name": "One"}, {"name": "no id"}]},
    )
    with pytest.raises(DomainError, match=r"^Choose one of: 1\.$"):
        orchestrator.human_checkpoint_answer(task=task, approved=True, choice="other")
    orchestrator.human_checkpoint_answer(task=task, approved=True, choice="1", actor=user)
    assert DecisionLog.objects.get().decision.startswith("alice chose 1 D")


def test_rejection_blocks_the_task(plan):
    task = Task.objects.get(key="H")
    orchestrator.human_checkpoint_answer(task=task, approved=False, note="layout broken")
    task.refresh_from_db()
    assert task.status == "blocked"


def test_the_sweep_dispatches_work_that_became_ready_without_a_run_ending(
    plan, django_capture_on_commit_callbacks, coders
):
    from agents.tasks import recover_stale_runs

    [coder] = coders(plan, 1)
    plan.status = "active"
    plan.save()
    # A person, not a run's end, made the work ready: nothing dispatched it.
    assert not AgentRun.objects.exists()
    with django_capture_on_commit_callbacks() as callbacks:
        recover_stale_runs.apply()
    [run] = AgentRun.objects.all()
    assert (run.agent, run.task.key, run.status) == (coder, "A", "running")
    assert len(callbacks) == 1  # its first step
    # Nothing more while the agent works, nor on a paused project.
    with django_capture_on_commit_callbacks():
        recover_stale_runs.apply()
    AgentFactory(project=plan, name="coder-spare")
    orchestrator.project_run_pause(project=plan)
    recover_stale_runs.apply()
    assert AgentRun.objects.count() == 1


def test_run_project_command(plan, capsys, django_capture_on_commit_callbacks, coders):
    coders(plan, 1)
    with django_capture_on_commit_callbacks():
        call_command("run_project", plan.slug)
    assert "started 1 agent run(s)" in capsys.readouterr().out
    call_command("run_project", plan.slug, pause=True)
    assert Project.objects.get(pk=plan.pk).status == "paused"
    with pytest.raises(CommandError, match="No project"):
        call_command("run_project", "nope")


def test_the_stale_run_sweep_is_scheduled_and_started_by_make_run():
    from pathlib import Path

    from django.conf import settings

    from config.celery import app

    assert app.conf.beat_schedule["recover-stale-runs"]["task"] == "agents.tasks.recover_stale_runs"
    assert "agents.tasks.recover_stale_runs" in app.tasks
    procfile = (Path(settings.BASE_DIR) / "Procfile").read_text()
    assert "celery -A config beat" in procfile


def test_checkpoint_restore_waits_for_running_agents(
    plan, django_capture_on_commit_callbacks, coders
):
    from agents.services.checkpoints import checkpoint_restore, checkpoint_snapshot

    coders(plan, 1)
    checkpoint = checkpoint_snapshot(project=plan, name="before")
    with django_capture_on_commit_callbacks():
        orchestrator.project_run_start(project=plan)
    with pytest.raises(ConflictError, match="Agents are working"):
        checkpoint_restore(checkpoint=checkpoint)
    orchestrator.project_run_cancel(project=plan)
    checkpoint_restore(checkpoint=checkpoint)
    assert Task.objects.get(key="A").status == "pending"


def test_each_idle_agent_gets_its_own_reserved_task(
    project, django_capture_on_commit_callbacks, coders
):
    """One agent's many reservations do not crowd out another's."""
    first, second = coders(project, 2)
    for key in ("A1", "A2", "A3"):
        TaskFactory(project=project, key=key, priority="high", assigned_agent=first)
    TaskFactory(project=project, key="B1", priority="low", assigned_agent=second)
    TaskFactory(project=project, key="FREE", priority="high")
    project.max_concurrent_runs = 2
    project.save()

    with django_capture_on_commit_callbacks():
        started = orchestrator.project_run_start(project=project)

    assert {(run.agent.name, run.task.key) for run in started} == {
        ("coder-0", "A1"),
        ("coder-1", "B1"),
    }


def test_tasks_that_change_the_same_files_are_not_worked_on_at_once(
    project, coders, django_capture_on_commit_callbacks
):
    project.max_concurrent_runs = 4
    project.save()
    TaskFactory(project=project, key="T1", files=["src/app.py", "README.md"], priority="high")
    TaskFactory(project=project, key="T2", files=["./src/app.py"], priority="high")
    TaskFactory(project=project, key="T3", files=["src/other.py"])
    TaskFactory(project=project, key="T4", files=["README.md"])
    coders(project, 4)
    with django_capture_on_commit_callbacks():
        started = orchestrator.project_run_start(project=project)
    assert {run.task.key for run in started} == {"T1", "T3"}

    # Once T1 is no longer in progress, its files are free for T2 and T4.
    with django_capture_on_commit_callbacks():
        [first] = [run for run in started if run.task.key == "T1"]
        runs.run_cancel(run=first)
        Task.objects.filter(key="T1").update(status="review")
        later = orchestrator.dispatch(project=project)
    assert {run.task.key for run in later} == {"T2", "T4"}


def test_the_offline_provider_cannot_run_built_in_coders_and_says_what_to_set(
    plan, settings, django_capture_on_commit_callbacks
):
    settings.LLM_PROVIDER = "offline"
    AgentFactory(project=plan, name="coder-1", type="coder")
    with pytest.raises(DomainError, match=r"offline LLM provider cannot write code.*LLM_PROVIDER"):
        orchestrator.project_run_start(project=plan)
    plan.refresh_from_db()
    assert plan.status != "active"
    assert not AgentRun.objects.exists()
    assert not Task.objects.filter(status__in=["in_progress", "done", "review"]).exists()


def test_a_cli_agent_needs_a_repository_and_its_program(project, monkeypatch, tmp_path, settings):
    TaskFactory(project=project, key="A")
    AgentFactory(project=project, name="codex-1", type="coder", executor="codex")
    with pytest.raises(DomainError, match="root path"):
        orchestrator.project_run_start(project=project)
    project.root_path = str(tmp_path)
    project.save()
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs-here"))
    settings.VAR_DIR = tmp_path  # nor installed by `make tools` (var/tools)
    with pytest.raises(DomainError, match="`codex` not found on PATH"):
        orchestrator.project_run_start(project=project)
    assert not AgentRun.objects.exists()
