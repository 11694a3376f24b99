"""What a coding run costs around the work itself. Prints one JSON object.

- `run_page_ms`: the median time to serve a run's page (the whole Django stack through
  the test client: session, membership, the timeline and the end of the log) for a run
  with a 5,000-line log, and `floor_page_ms`, the same for the health endpoint (`/healthz`)
  served the same way; their difference is what the run page itself costs.
- `verify_overhead_ms`: the median time of Crewboard's check of a `true` verify command
  (the run locked at its verifying stage, a `verify` tool call started and completed, a
  metric, the log, the outcome handed to the run's owner) less the median of running
  `true` the way the check runs it, confined or not alike (`verify_command_ms`).

Runs against a throwaway database created next to the configured one:

    .venv/bin/python bench/coding_pages.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crewboard .venv/bin/python bench/coding_pages.py
"""

import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
# Pages render without collectstatic, as in the tests.
os.environ.setdefault(
    "STATICFILES_STORAGE", "django.contrib.staticfiles.storage.StaticFilesStorage"
)

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from agents.models import AgentRun  # noqa: E402
from agents.services import agent_create, runs, verify  # noqa: E402
from agents.services.run_logs import RunLogWriter  # noqa: E402
from agents.workspaces.commands import command_run, shell_argv  # noqa: E402
from planning import services as planning_services  # noqa: E402
from planning.models import Project  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "30"))


def _median_ms(action: Callable[[], object], rounds: int = ROUNDS) -> float:
    action()  # warm
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure_run_page(project: Project, owner: Any) -> dict[str, float]:
    agent = agent_create(project=project, name="page-coder", type="coder")
    run = runs.agent_run_create(project=project, agent=agent, task=None)
    AgentRun.objects.filter(pk=run.pk).update(worktree_path="/nowhere")
    with RunLogWriter(run.pk, chunk_chars=4096) as writer:
        for n in range(5000):
            writer.write("stdout", f"test_module_{n % 97}.py::test_case_{n} PASSED [{n % 100}%]\n")
    client = Client(HTTP_HOST="localhost")
    client.force_login(owner)
    page = reverse("agents:run-detail", args=[project.slug, run.pk])
    floor = reverse("healthz")

    def get_page() -> None:
        assert client.get(page).status_code == 200

    def get_floor() -> None:
        assert client.get(floor).status_code == 200

    page_ms, floor_ms = [], []
    for _ in range(3):  # alternate, so drift hits both alike
        page_ms.append(_median_ms(get_page, ROUNDS // 3 or 1))
        floor_ms.append(_median_ms(get_floor, ROUNDS // 3 or 1))
    return {
        "run_page_ms": round(statistics.median(page_ms), 1),
        "floor_page_ms": round(statistics.median(floor_ms), 1),
        "run_page_log_lines": 5000,
    }


def measure_verify(project: Project, owner: Any) -> dict[str, float]:
    worktree = Path(tempfile.mkdtemp(prefix="crewboard-bench-verify-"))
    planning_services.project_update(project=project, data={"verify_command": "true"})
    agent = agent_create(project=project, name="verify-coder", type="coder")
    task = planning_services.task_create(project=project, key="V1", name="checked")
    run = runs.agent_run_create(project=project, agent=agent, task=task)

    def crewboard_verify() -> None:
        # A run at its verifying stage, as the coder's finish leaves it.
        AgentRun.objects.filter(pk=run.pk).update(
            status="running", stage="verifying", worktree_path=str(worktree), finished_at=None
        )
        verified = verify.verify_run_execute(run_id=run.pk)
        assert verified is not None and verified.status == "succeeded"

    def plain_true() -> None:
        result = command_run(
            shell_argv("true"), cwd=worktree, timeout_s=60, allow_network=False,
            writable=[worktree],
        )  # fmt: skip
        assert result.exit_code == 0

    ours, plain = [], []
    for _ in range(3):
        ours.append(_median_ms(crewboard_verify, ROUNDS // 3 or 1))
        plain.append(_median_ms(plain_true, ROUNDS // 3 or 1))
    return {
        "verify_command_ms": round(statistics.median(plain), 1),
        "verify_total_ms": round(statistics.median(ours), 1),
        "verify_overhead_ms": round(statistics.median(ours) - statistics.median(plain), 1),
        "sandboxed": settings.AGENT_SANDBOX != "none",
    }


def measure_all() -> dict[str, object]:
    owner = get_user_model().objects.create_user("bench-pages")
    project = planning_services.project_create(owner=owner, name="coding pages")
    figures: dict[str, object] = {"database": connection.vendor}
    figures.update(measure_run_page(project, owner))
    figures.update(measure_verify(project, owner))
    return figures


def main() -> None:
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        print(json.dumps(measure_all(), indent=2))
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
