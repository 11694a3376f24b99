"""What a run's trace page costs at 500 tool calls. Prints one JSON object.

One ended run of BENCH_TRACE_STEPS (50) steps with BENCH_TRACE_CALLS_PER_STEP (10) tool
calls each (a path in, a short output out; one call in ten failed), a decision and token
use per step, written straight to the database. Side by side in one run, alternating the
order each round:

- `trace_page_ms`: GET of the run page (the whole Django stack through the test client,
  logged in as the project's owner), its waterfall drawn.
- `floor_page_ms`: the same page for a run of one step with one tool call: what the page
  costs before any row of the trace.
- `tool_call_search_ms`: the project's tool-call search for a word every call's input
  holds (the first of its pages).

Medians of BENCH_ROUNDS (9) rounds; `*_kb` are the HTML sizes and `*_queries` the
database queries of one view (the trace's must equal the floor's). Targets: the trace
page under 150 ms and 200 KB. Runs against a throwaway database next to the configured
one:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crewboard .venv/bin/python bench/trace_page.py
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
# Pages render without collectstatic, as in the tests.
os.environ.setdefault(
    "STATICFILES_STORAGE", "django.contrib.staticfiles.storage.StaticFilesStorage"
)

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from agents.models import AgentRun, AgentStep, DecisionLog, Metric, ToolCall  # noqa: E402
from agents.services import agent_create, runs  # noqa: E402
from planning import services as planning_services  # noqa: E402
from planning.models import Project  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "9"))
STEPS = int(os.environ.get("BENCH_TRACE_STEPS", "50"))
CALLS_PER_STEP = int(os.environ.get("BENCH_TRACE_CALLS_PER_STEP", "10"))


def ended_run(project: Project, *, steps: int, calls_per_step: int) -> AgentRun:
    """An ended run of `steps` steps, each asking for `calls_per_step` tool calls that ran."""
    agent = agent_create(project=project, name=f"coder-{steps}", type="coder")
    task = planning_services.task_create(
        project=project, key=f"T{steps}", name="Add the **login** form"
    )
    start = timezone.now() - timedelta(hours=1)
    run = runs.agent_run_create(project=project, agent=agent, task=task)
    AgentRun.objects.filter(pk=run.pk).update(
        status=AgentRun.Status.SUCCEEDED,
        started_at=start,
        finished_at=start + timedelta(seconds=steps * 12),
    )
    step_rows, started_rows = [], []
    for n in range(1, steps + 1):
        began = start + timedelta(seconds=(n - 1) * 12)
        calls = [
            (f"s{n}c{i}", "read_file", f'{{"path": "src/module_{i}.py"}}')
            for i in range(calls_per_step)
        ]
        step_rows.append(
            AgentStep(
                run=run,
                number=n,
                status=AgentStep.Status.DONE,
                attempts=1,
                reply={
                    "role": "assistant",
                    "content": f"Reading the modules for step {n}.",
                    "tool_calls": [
                        {
                            "id": cid,
                            "type": "function",
                            "function": {"name": name, "arguments": args},
                        }
                        for cid, name, args in calls
                    ],
                },
                started_at=began,
                finished_at=began + timedelta(seconds=11),
            )
        )
        started_rows += [
            ToolCall(
                project=project,
                agent=agent,
                run=run,
                task=task,
                step=n,
                call_id=cid,
                tool_name=name,
                input={"path": f"src/module_{i}.py"},
                created_at=began + timedelta(seconds=1 + i),
            )
            for i, (cid, name, _) in enumerate(calls)
        ]
    AgentStep.objects.bulk_create(step_rows)
    ToolCall.objects.bulk_create(started_rows)
    ToolCall.objects.bulk_create(
        ToolCall(
            project=project,
            agent=agent,
            run=run,
            task=task,
            started=row,
            tool_name=row.tool_name,
            status="failed" if i % 10 == 9 else "succeeded",
            output=None if i % 10 == 9 else {"lines": 120, "head": "def login(request):"},
            error="file not found" if i % 10 == 9 else "",
            duration_ms=40 + i % 300,
        )
        for i, row in enumerate(started_rows)
    )
    DecisionLog.objects.bulk_create(
        DecisionLog(
            project=project,
            agent=agent,
            run=run,
            task=task,
            decision=f"Read the modules of step {n}",
            reasoning={"why": "The form needs the **session** helpers.", "risks": ["none"]},
        )
        for n in range(1, steps + 1)
    )
    Metric.objects.bulk_create(
        Metric(
            project=project,
            agent=agent,
            run=run,
            task=task,
            type=kind,
            value=value,
            metadata={"step": n, "input_tokens": 900, "output_tokens": 100, "priced": True},
        )
        for n in range(1, steps + 1)
        for kind, value in ((Metric.Type.TOKEN_USAGE, 1000), (Metric.Type.COST, 0.01))
    )
    return run


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def measure_trace_page() -> dict[str, Any]:
    owner = get_user_model().objects.create_user("bench-trace")
    project = planning_services.project_create(owner=owner, name="trace page")
    trace = ended_run(project, steps=STEPS, calls_per_step=CALLS_PER_STEP)
    floor = ended_run(project, steps=1, calls_per_step=1)
    client = Client(HTTP_HOST="localhost")
    client.force_login(owner)
    pages = {
        "trace": reverse("agents:run-detail", args=[project.slug, trace.pk]),
        "floor": reverse("agents:run-detail", args=[project.slug, floor.pk]),
        "search": reverse("agents:tool-calls", args=[project.slug]) + "?q=module",
    }
    sizes: dict[str, int] = {}
    queries: dict[str, int] = {}

    def view(name: str) -> Callable[[], None]:
        def get() -> None:
            answer = client.get(pages[name])
            assert answer.status_code == 200, answer.status_code
            sizes[name] = len(answer.content)

        return get

    for name in pages:  # templates and the URL resolver load once a process
        view(name)()
        with CaptureQueriesContext(connection) as captured:
            view(name)()
        queries[name] = len(captured.captured_queries)
    times: dict[str, list[float]] = {name: [] for name in pages}
    for round_ in range(ROUNDS):
        order = list(pages) if round_ % 2 == 0 else list(reversed(pages))
        for name in order:
            times[name].append(timed(view(name)))
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "tool_calls": STEPS * CALLS_PER_STEP,
        "steps": STEPS,
        "trace_page_ms": round(medians["trace"], 1),
        "trace_page_kb": round(sizes["trace"] / 1024, 1),
        "trace_page_queries": queries["trace"],
        "floor_page_ms": round(medians["floor"], 1),
        "floor_page_kb": round(sizes["floor"] / 1024, 1),
        "floor_page_queries": queries["floor"],
        "tool_call_search_ms": round(medians["search"], 1),
        "tool_call_search_kb": round(sizes["search"] / 1024, 1),
        "tool_call_search_queries": queries["search"],
        "rounds": ROUNDS,
        "database": connection.vendor,
    }


@contextmanager
def throwaway_database() -> Iterator[None]:
    """A database made next to the configured one, migrated, and dropped after."""
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        yield
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def main() -> None:
    with throwaway_database():
        print(json.dumps(measure_trace_page(), indent=2))


if __name__ == "__main__":
    main()
