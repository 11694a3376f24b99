"""Benchmarks of editing the plan from its page. Prints one JSON object.

Runs against a throwaway database created next to the configured one, so it never
touches real data:

    .venv/bin/python bench/plan_edits.py                      # SQLite; BENCH_PARTS=coverage
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crewboard .venv/bin/python bench/plan_edits.py

Each figure is measured beside a floor in the same run, so the ratio holds on a loaded
machine:
- `reorder_ms`: moving a task one place up in a group of 1,000 and 10,000 tasks, the
  first time (imported positions all 0: the whole group is renumbered) and then again
  (two rows change); the floor is one single-row UPDATE of a task's position.
- `coverage_ms`: the requirements page's reads (the coverage counts, a page of 100
  requirements with `covered` and their features) for 1,000 and 10,000 requirements
  (and as many tasks), half of them covered; the floor is a plain page of 100
  requirements.
"""

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from planning import coverage, services  # noqa: E402
from planning.models import Requirement, Task  # noqa: E402
from planning.services import plan_edits  # noqa: E402

SIZES = (1_000, 10_000)
# BENCH_PARTS=coverage (or reorder) runs one part.
PARTS = os.environ.get("BENCH_PARTS", "reorder,coverage").split(",")
REPEATS = 5


def timed_ms(action: Callable[[], object], repeats: int = REPEATS) -> float:
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        runs.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(runs), 2)


def reorder(owner: object, size: int) -> dict[str, float]:
    project = services.project_create(owner=owner, name=f"reorder {size}")  # type: ignore[arg-type]
    feature = services.feature_create(project=project, key="F", name="F")
    sub = services.sub_feature_create(feature=feature, key="S", name="S")
    Task.objects.bulk_create(
        Task(project=project, feature=feature, sub_feature=sub, key=f"T{i:06d}", name="t")
        for i in range(size)
    )
    middle = Task.objects.get(project=project, key=f"T{size // 2:06d}")
    started = time.perf_counter()
    plan_edits.task_reorder(task=middle, offset=-1)
    first_ms = round((time.perf_counter() - started) * 1000, 2)
    again_ms = timed_ms(lambda: plan_edits.task_reorder(task=middle, offset=-1))

    def floor() -> None:
        with transaction.atomic():
            Task.objects.filter(pk=middle.pk).update(position=middle.position)

    floor_ms = timed_ms(floor)
    return {
        "first_ms": first_ms,
        "again_ms": again_ms,
        "floor_ms": floor_ms,
        "again_ratio": round(again_ms / floor_ms, 1),
    }


def coverage_reads(owner: object, size: int) -> dict[str, float]:
    project = services.project_create(owner=owner, name=f"coverage {size}")  # type: ignore[arg-type]
    features = [
        services.feature_create(project=project, key=f"F{i}", name=f"F{i}") for i in range(20)
    ]
    # As many tasks as requirements, in the first ten features: the other ten cover nothing.
    Task.objects.bulk_create(
        Task(project=project, feature=features[i % 10], key=f"T{i}", name="t") for i in range(size)
    )
    requirements = Requirement.objects.bulk_create(
        Requirement(project=project, code=f"R{i:06d}", description="need") for i in range(size)
    )
    through = Requirement.features.through
    through.objects.bulk_create(
        through(requirement_id=r.pk, feature_id=features[i % 20].pk)
        for i, r in enumerate(requirements)
    )

    def page() -> None:
        coverage.coverage_counts(project=project)
        rows = list(coverage.requirement_coverage(project=project)[:100])
        assert all(r.features.all() is not None for r in rows)

    def floor() -> None:
        list(project.requirements.order_by("code", "id")[:100])

    page_ms, floor_ms = timed_ms(page), timed_ms(floor)
    return {"page_ms": page_ms, "floor_ms": floor_ms, "ratio": round(page_ms / floor_ms, 1)}


def main() -> None:
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        owner = get_user_model().objects.create_user("bench")
        result: dict[str, object] = {
            "database": connection.vendor,
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
        if "reorder" in PARTS:
            result["reorder_ms"] = {str(size): reorder(owner, size) for size in SIZES}
        if "coverage" in PARTS:
            result["coverage_ms"] = {str(size): coverage_reads(owner, size) for size in SIZES}
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
