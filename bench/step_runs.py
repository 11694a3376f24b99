"""What bench/peers.py and bench/round_trips.py share: Django set up for a benchmark, and
runs of PEER_STEPS steps carried out in one spawned process, whose Celery broker is in
memory (publishing a step's successor costs nothing) and whose offline model asks for
one `get_state` call a step and `finish` at the last (bench/step_worker.py)."""

import multiprocessing
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
os.environ["ALLOWED_HOSTS"] = "testserver"

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402

from agents import services  # noqa: E402
from agents.models import AgentRun  # noqa: E402
from planning.models import Task  # noqa: E402
from planning.services import project_create  # noqa: E402

PEER_STEPS = int(os.environ.get("BENCH_PEER_STEPS", "10"))
TIMEOUT_S = 600


def bench_owner() -> Any:
    return get_user_model().objects.get_or_create(username="bench")[0]


def queued_runs(name: str, runs: int, *, key: str) -> list[AgentRun]:
    """A new project `name` with `runs` queued runs, each of a coder agent of its own at a
    task of its own (keyed `key` and the run's number)."""
    project = project_create(owner=bench_owner(), name=name)
    created = []
    for number in range(runs):
        agent = services.agent_create(project=project, name=f"coder-{key}{number}", type="coder")
        task = Task.objects.create(project=project, key=f"{key}{number}", name=f"bench {number}")
        created.append(services.agent_run_create(project=project, agent=agent, task=task))
    return created


def in_spawned_process(target: Callable[[Any], None], what: str) -> Any:
    """What `target(results)` puts in `results`, run in a spawned process whose broker is
    in memory and whose offline model ends a run at step PEER_STEPS. `target` puts
    (its value, None), or (None, its error); an error is raised as `what` failing."""
    # The child sets Django up with these when it imports the target's module.
    saved = {name: os.environ.get(name) for name in ("CELERY_BROKER_URL", "BENCH_STEPS_PER_RUN")}
    os.environ["CELERY_BROKER_URL"] = "memory://"
    os.environ["BENCH_STEPS_PER_RUN"] = str(PEER_STEPS)
    try:
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        process = context.Process(target=target, args=(results,))
        process.start()
        value, error = results.get(timeout=TIMEOUT_S)
        process.join(timeout=30)
    finally:
        for name, before in saved.items():
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before
    if error:
        raise RuntimeError(f"{what} failed: {error}")
    return value
