"""Planning benchmarks. Prints one JSON object.

Runs against a throwaway database created next to the configured one (the same way the
test suite does), so it never touches real data:

    .venv/bin/python bench/plans.py                      # SQLite
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crewboard .venv/bin/python bench/plans.py

Measures `next` (the next ready task) on plans of 1,000, 10,000 and 100,000 tasks where
every task has a dependency and most are not ready, so the query has to skip past them.
"""

import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402

from planning import selectors, services  # noqa: E402
from planning.models import Task, TaskDependency  # noqa: E402

SIZES = [int(n) for n in os.environ.get("BENCH_TASKS", "1000,10000,100000").split(",")]
BATCH = 5000


def seed(project, count: int) -> None:
    """`count` tasks in a chain, the first 90% done; the ready ones are at the end."""
    priorities = ("high", "medium", "low")
    done_until = int(count * 0.9)
    for start in range(0, count, BATCH):
        Task.objects.bulk_create(
            Task(
                project=project,
                key=f"T{i:06d}",
                name=f"task {i}",
                priority=priorities[i % 3],
                wave=1 + i // 100,
                status="done" if i < done_until else "pending",
            )
            for i in range(start, min(start + BATCH, count))
        )
    ids = list(Task.objects.filter(project=project).order_by("key").values_list("id", flat=True))
    for start in range(1, count, BATCH):
        TaskDependency.objects.bulk_create(
            TaskDependency(task_id=ids[i], depends_on_id=ids[i - 1])
            for i in range(start, min(start + BATCH, count))
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def time_ms(fn, repeat: int = 25) -> float:
    fn()  # warm caches and the connection
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 3)


def main() -> None:
    old_name = connection.settings_dict["NAME"]
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        owner = get_user_model().objects.create_user("bench")
        next_ms = {}
        for count in SIZES:
            project = services.project_create(owner=owner, name=f"bench {count}")
            seed(project, count)
            expected = selectors.task_next_ready(project=project)
            assert expected is not None and expected.key == f"T{int(count * 0.9):06d}"
            next_ms[str(count)] = time_ms(lambda p=project: selectors.task_next_ready(project=p))
        print(
            json.dumps(
                {"database": connection.vendor, "next_ms": next_ms},
                indent=2,
            )
        )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        del test_name


if __name__ == "__main__":
    main()
