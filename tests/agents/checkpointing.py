"""A project to take checkpoints of, and what to compare them by: the demo plan with
tasks in every execution state, agent state and audit rows; changes to it; and git
repositories for its root."""

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Model

from agents import services
from agents.models import (
    Agent,
    AgentState,
    Checkpoint,
    DecisionLog,
    Metric,
    PlanningCycle,
    ToolCall,
)
from planning import services as planning_services
from planning.importers import ImportSource, parse_source
from planning.models import Feature, Project, Task, TaskDependency
from planning.services.plans import plan_apply
from tests.factories import AgentFactory
from tests.hang import HANG_S

DEMO = Path(settings.BASE_DIR) / "planning" / "demo" / ".planning"
STARTED = datetime(2025, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


def populate(project: Project) -> Agent:
    """The demo plan, tasks in every execution state, agent state, and some audit rows."""
    plan_apply(project=project, document=parse_source(ImportSource.from_path(DEMO)))
    agent = AgentFactory(project=project, name="coder-1")
    Task.objects.filter(project=project, key="01-02-T1").update(
        status=Task.Status.IN_PROGRESS,
        assigned_agent=agent,
        worktree_path="/work/wt/01-02-T1",
        branch_name="task/01-02-T1",
        qa_iterations=2,
        started_at=STARTED,
    )
    Task.objects.filter(project=project, key="02-01-T1").update(
        status=Task.Status.REVIEW,
        actual_minutes=42,
        started_at=STARTED,
        completed_at=STARTED + timedelta(hours=1, microseconds=7),
    )
    for namespace, key, value in [
        ("planner", "cursor", {"task": "01-02-T1", "step": 3}),
        ("planner", "flag", 1),
        ("coder", "notes", ["a", "b"]),
        ("coder", "empty", None),
    ]:
        services.agent_state_create(project=project, namespace=namespace, key=key, value=value)
    run = services.agent_run_create(project=project, agent=agent)
    started = services.tool_call_start(project=project, tool_name="get_task", run=run)
    services.tool_call_complete(started=started, status="succeeded", output={"ok": True})
    cycle = services.planning_cycle_open(project=project, goals=["ship"])
    services.decision_record(project=project, decision="Picked SQLite", planning_cycle=cycle)
    services.metric_record(project=project, type="cost", value=0.5)
    return agent


def mutate(project: Project) -> None:
    """Plan edits, execution changes and agent-state changes of every kind."""
    tasks = {t.key: t for t in project.tasks.all()}
    planning_services.task_update(task=tasks["02-02-T1"], data={"name": "Renamed task"})
    planning_services.task_delete(task=tasks["03-01-T1"])
    planning_services.task_create(
        project=project,
        key="99-T1",
        name="Added after the checkpoint",
        depends_on=[tasks["01-01-T1"]],
    )
    TaskDependency.objects.filter(task=tasks["01-01-T2"]).delete()
    planning_services.feature_update(
        feature=Feature.objects.get(project=project, key="02"), data={"name": "Planning II"}
    )
    Task.objects.filter(project=project, key="01-02-T1").update(
        status=Task.Status.DONE,
        assigned_agent=None,
        worktree_path="",
        branch_name="",
        qa_iterations=5,
        completed_at=STARTED + timedelta(days=1),
    )
    Task.objects.filter(project=project, key="01-01-T1").update(status=Task.Status.FAILED)
    Task.objects.filter(project=project, key="02-01-T1").update(
        actual_minutes=None, completed_at=None
    )
    entries = {(e.namespace, e.key): e for e in project.agent_state.all()}
    services.agent_state_update(
        entry=entries["planner", "cursor"], data={"value": {"task": "02-01-T1"}}
    )
    # Equal to 1 in Python, but not the same JSON: a restore must still put 1 back.
    AgentState.objects.filter(pk=entries["planner", "flag"].pk).update(value=True)
    services.agent_state_delete(entry=entries["coder", "notes"])
    services.agent_state_create(project=project, namespace="coder", key="new", value="x")


def state_json(project: Project) -> str:
    """The project's state now, as canonical JSON."""
    checkpoint = services.checkpoint_snapshot(project=project, name="probe")
    state = checkpoint.state
    checkpoint.delete()
    return json.dumps(state, sort_keys=True)


def rows(model: type[Model]) -> list[dict[str, Any]]:
    return list(model.objects.order_by("pk").values())


def audit_rows() -> dict[str, list[dict[str, Any]]]:
    return {m.__name__: rows(m) for m in (ToolCall, DecisionLog, PlanningCycle, Metric)}


def git(path: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=path, capture_output=True, text=True, check=True, timeout=HANG_S
    )
    return done.stdout.strip()


def make_repo(path: Path, *, commit: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    if commit:
        git(path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q",
            "--allow-empty", "-m", "first")  # fmt: skip
    return path


def corrupt(checkpoint: Checkpoint, change: Any) -> None:
    state = checkpoint.state
    change(state)
    Checkpoint.objects.filter(pk=checkpoint.pk).update(state=state)
    checkpoint.refresh_from_db()


def bad_plan(state: dict[str, Any]) -> None:
    # Features are written before tasks, so plan_apply fails part-way through.
    state["plan"]["features"][0]["name"] = "Written before the failure"
    state["plan"]["tasks"][-1]["max_iterations"] = -1


def dangling_dependency(state: dict[str, Any]) -> None:
    state["plan"]["tasks"][0]["depends_on"] = ["no-such-task"]


def bad_status(state: dict[str, Any]) -> None:
    # Fails after the plan and the other tasks are written.
    state["tasks"]["03-01-T1"]["status"] = "bogus"
