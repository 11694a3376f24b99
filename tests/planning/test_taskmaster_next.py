"""`next` on Task Master files picks what Task Master's own `task-master next` picks."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from planning import selectors
from planning.importers.taskmaster import parse_tasks_json
from planning.services.plans import plan_apply
from tests.planning.taskmaster_cli import needs_task_master, next_id, write_project

pytestmark = pytest.mark.django_db

STATES = 40
STATUSES = ["done"] * 4 + ["in-progress"] * 2 + ["pending"] * 4
PRIORITIES = ["high", "medium", "low"]


def _task(task_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": task_id,
        "title": f"Task {task_id}",
        "description": f"Do {task_id}",
        "status": "pending",
        "priority": "medium",
        "dependencies": [],
        "subtasks": [],
    } | fields


def _apply(project, data: dict[str, Any]) -> None:
    # As a restore does: tasks a state does not have are gone.
    plan_apply(project=project, document=parse_tasks_json(json.dumps(data)), prune=True)


def _next_key(project) -> str | None:
    task = selectors.task_next_ready(project=project)
    return task.key if task else None


def test_keys_sort_naturally_so_next_picks_7_before_10(project):
    tasks = [_task(n, status="done" if n <= 2 else "pending") for n in range(1, 13)]
    for task in tasks[2:6]:  # 3-6 wait for 12
        task["dependencies"] = [12]
    tasks[11]["dependencies"] = [11]
    _apply(project, {"master": {"tasks": tasks}})
    assert _next_key(project) == "7"  # not "10", which comes first as text
    keys = list(selectors.task_list(project=project).values_list("key", flat=True))
    assert keys == [str(n) for n in range(1, 13)]


def test_subtasks_inherit_priority_and_wait_until_their_parent_could_start(project):
    data = {
        "tasks": [
            _task(1, priority="low"),
            _task(
                2,
                priority="high",
                dependencies=[1],
                subtasks=[
                    {"id": 1, "title": "Sub", "status": "pending", "dependencies": []},
                    {"id": 2, "title": "Own", "priority": "low", "dependencies": [1]},
                ],
            ),
        ]
    }
    _apply(project, data)
    subtask = project.tasks.get(key="2.1")
    assert subtask.priority == "high" and subtask.parent.key == "2"
    assert project.tasks.get(key="2.2").priority == "low"
    ready = set(selectors.task_ready_list(project=project).values_list("key", flat=True))
    assert ready == {"1"}  # 2.1 has no dependency, but its parent waits for 1
    assert _next_key(project) == "1"
    project.tasks.filter(key="1").update(status="done")
    ready = set(selectors.task_ready_list(project=project).values_list("key", flat=True))
    assert ready == {"2", "2.1"}
    assert _next_key(project) == "2"  # as in Task Master: subtasks wait for their parent


def test_subtasks_of_a_task_in_progress_come_first(project):
    data = {
        "tasks": [
            _task(1, priority="high"),
            _task(
                2,
                priority="low",
                status="in-progress",
                subtasks=[
                    {"id": 1, "title": "A", "status": "done"},
                    {"id": 2, "title": "B", "status": "pending", "dependencies": [1]},
                ],
            ),
        ]
    }
    _apply(project, data)
    assert _next_key(project) == "2.2"
    project.tasks.filter(key="2.2").update(status="done")
    # No subtask left: the task in progress competes again, and priority comes first.
    assert _next_key(project) == "1"
    project.tasks.filter(key="1").update(status="done")
    assert _next_key(project) == "2"  # in progress, held by no agent: offered again


def random_tasks_json(rng: random.Random) -> dict[str, Any]:
    """A Task Master file with statuses, priorities and dependencies drawn at random;
    ids run past 10 so that text order and number order differ."""
    count = rng.randint(8, 16)
    tasks = []
    for task_id in range(1, count + 1):
        earlier = list(range(1, task_id))
        dependencies: list[int | str] = rng.sample(earlier, k=min(len(earlier), rng.randint(0, 3)))
        subtasks = []
        for sub_id in range(1, rng.randint(0, 4) + 1):
            sub: dict[str, Any] = {
                "id": sub_id,
                "title": f"Subtask {task_id}.{sub_id}",
                "description": "",
                "status": rng.choice(STATUSES),
                "dependencies": rng.sample(range(1, sub_id), k=min(sub_id - 1, rng.randint(0, 2))),
            }
            if rng.random() < 0.3:
                sub["priority"] = rng.choice(PRIORITIES)
            subtasks.append(sub)
        done_subtasks = [
            f"{t['id']}.{s['id']}" for t in tasks for s in t["subtasks"] if rng.random() < 0.1
        ]
        tasks.append(
            _task(
                task_id,
                status=rng.choice(STATUSES),
                priority=rng.choice(PRIORITIES),
                dependencies=dependencies + done_subtasks[:1],
                subtasks=subtasks,
            )
        )
    rng.shuffle(tasks)  # Task Master does not rely on file order; neither may Crewboard
    return {"master": {"tasks": tasks, "metadata": {"name": "Random"}}}


@needs_task_master
def test_next_agrees_with_task_master_in_every_random_state(project, tmp_path):
    rng = random.Random(20_261_207)
    states = [random_tasks_json(rng) for _ in range(STATES)]
    folders = []
    for number, state in enumerate(states):
        folder = tmp_path / f"state-{number}"
        write_project(folder, json.dumps(state, indent=2))
        folders.append(folder)
    with ThreadPoolExecutor(max_workers=4) as pool:
        expected = list(pool.map(next_id, folders))
    assert any(e and "." in e for e in expected), "no state exercised subtasks first"
    assert len({e for e in expected}) > STATES // 4, "the states are too much alike"
    for number, state in enumerate(states):
        _apply(project, state)
        assert _next_key(project) == expected[number], f"state {number}: {json.dumps(state)}"
