"""Planning benchmarks. Prints one JSON object.

Runs against a throwaway database created next to the configured one (the same way the
test suite does), so it never touches real data:

    .venv/bin/python bench/plans.py                      # SQLite
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crewboard .venv/bin/python bench/plans.py

- `import_s`: importing a synthetic GSD tree of 10, 100 and 1,000 plans (3 tasks each),
  from text to committed rows plus the first version.
- `import_taskmaster_10k_s`: importing a Task Master tasks.json of 10,000 tasks, a third
  of them with 3 subtasks (20,000 in all, about 6 MB), each depending on up to 2 earlier
  tasks; `import_taskmaster_5k_s` is the same at half the size, to show it is linear.
  `import_taskmaster_10k_cpu_s` is the 10k import's CPU time in this process (all its
  threads; the rest of its time it waits on PostgreSQL), and `parse_taskmaster_10k_s`
  the parse of that file alone (reading and checking it, no database).
- `import_markdown_10k_s`: importing a Markdown PRD of 10,000 items under 100 headings
  (about 1 MB), a third of them "after" an earlier item by name, a fifth by key, a tenth
  done (`- [x]`), from text to committed rows plus the first version.
  `parse_markdown_s` is the parse alone at 10,000 and 20,000 items (to show it is
  linear), beside `markdown_it_s`, markdown-it-py tokenising the same files: the floor of
  reading that much Markdown in Python at all.
- `floor_taskmaster_10k_s`: the least any import of that file can take, measured in the
  same run: `json.loads` of it and one bare COPY of its 20,000 task rows (psycopg's
  `cursor.copy`; SQLite: one prepared INSERT through `executemany`), the fastest path
  the drivers offer; `import_vs_floor` is the import over it.
  `bulk_create_taskmaster_10k_s` is the same rows through Django's `bulk_create`.
- `floor_markdown_10k_s`: markdown-it-py tokenising the 10,000-item PRD and one bare
  COPY (or executemany) of a row per item; `markdown_vs_floor` is the import over it.
  `reimport_taskmaster_10k_s` imports the same file again (nothing changes: it is
  matched task by task, by identity).
- `next_ms`: `next` (the next ready task) on plans of 1,000, 10,000 and 100,000 tasks where
  every task has a dependency and most are not ready, so the query has to skip past them.
- `version_s` / `diff_s`: making a version of a 5,000-task plan, and diffing two such
  versions that differ in 10% of their tasks.
"""

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")

import django
from markdown_it import MarkdownIt

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import JSONField  # noqa: E402
from django.utils import timezone  # noqa: E402

from core.collector import collector_paused  # noqa: E402
from core.text import natural_sort_key  # noqa: E402
from planning import selectors, services  # noqa: E402
from planning.diff import diff_snapshots  # noqa: E402
from planning.importers import ImportSource, parse_source  # noqa: E402
from planning.importers.markdown import parse_markdown  # noqa: E402
from planning.models import Feature, Project, SubFeature, Task, TaskDependency  # noqa: E402
from planning.services.imports import plan_import  # noqa: E402
from planning.services.versions import version_create  # noqa: E402

PLAN_TEMPLATE = """---
phase: {phase:02d}-phase-{phase}
plan: {plan:02d}
type: execute
wave: {wave}
depends_on: [{deps}]
files_modified: [src/module_{phase}_{plan}.py, tests/test_{phase}_{plan}.py]
autonomous: true
must_haves:
  truths:
    - "Plan {phase}-{plan} works"
---

<objective>
Synthetic plan {phase}-{plan}.
</objective>

<tasks>
{tasks}
</tasks>

<verification>
- [ ] tests pass
</verification>
"""
TASK_TEMPLATE = """<task type="auto">
  <name>Task {n}: Step {n} of plan {phase}-{plan}</name>
  <files>src/module_{phase}_{plan}.py</files>
  <action>
Write step {n}. Code with `<` signs:

```python
if a < b:
    return "<task>"
```
  </action>
  <verify>pytest tests/test_{phase}_{plan}.py</verify>
  <done>Step {n} done</done>
</task>"""


def synthetic_gsd(plans: int, plans_per_phase: int = 10) -> ImportSource:
    files = {}
    for index in range(plans):
        phase, plan = index // plans_per_phase + 1, index % plans_per_phase + 1
        deps = f'"{phase:02d}-{plan - 1:02d}"' if plan > 1 else ""
        tasks = "\n\n".join(TASK_TEMPLATE.format(n=n, phase=phase, plan=plan) for n in range(1, 4))
        text = PLAN_TEMPLATE.format(phase=phase, plan=plan, wave=plan, deps=deps, tasks=tasks)
        files[f".planning/phases/{phase:02d}-phase-{phase}/{phase:02d}-{plan:02d}-PLAN.md"] = text
    return ImportSource(name=f"synthetic-{plans}", files=files)


SIZES = [int(n) for n in os.environ.get("BENCH_TASKS", "1000,10000,100000").split(",")]
PLAN_COUNTS = [int(n) for n in os.environ.get("BENCH_PLANS", "10,100,1000").split(",")]
VERSION_TASKS = int(os.environ.get("BENCH_VERSION_TASKS", "5000"))
BATCH = 5000


def seed(project: Project, count: int) -> None:
    """`count` tasks of one plan in a chain, the first 90% done; the ready ones are at the
    end. (In a plan, as GSD's are, so that waves take part in the order.)"""
    priorities = ("high", "medium", "low")
    done_until = int(count * 0.9)
    feature = Feature.objects.create(project=project, key="F", name="Bench")
    plan = SubFeature.objects.create(project=project, feature=feature, key="F-01", name="Bench")
    for start in range(0, count, BATCH):
        Task.objects.bulk_create(
            Task(
                project=project,
                feature=feature,
                sub_feature=plan,
                key=f"T{i:06d}",
                sort_key=natural_sort_key(f"T{i:06d}"),
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


def synthetic_tasks_json(count: int) -> ImportSource:
    tasks = []
    for task_id in range(1, count + 1):
        subtasks = (
            [
                {
                    "id": n,
                    "title": f"Step {n} of {task_id}",
                    "description": "A step.",
                    "status": "pending",
                    "dependencies": [n - 1] if n > 1 else [],
                }
                for n in range(1, 4)
            ]
            if task_id % 3 == 0
            else []
        )
        tasks.append(
            {
                "id": task_id,
                "title": f"Task {task_id}",
                "description": "Does one thing.\nOn two lines.",
                "details": "Details " * 20,
                "testStrategy": "Run the tests.",
                "status": "done" if task_id % 7 == 0 else "pending",
                "priority": ("high", "medium", "low")[task_id % 3],
                "dependencies": [d for d in (task_id - 1, task_id // 2) if 0 < d < task_id][:2],
                "subtasks": subtasks,
            }
        )
    text = json.dumps({"master": {"tasks": tasks, "metadata": {"name": "Bench"}}}, indent=2)
    return ImportSource("tasks.json", {"tasks.json": text})


def synthetic_prd(count: int, per_feature: int = 100) -> str:
    lines = ["# Bench product", "", "What the product is, in a sentence.", ""]
    for index in range(count):
        number = index + 1
        feature, position = index // per_feature + 1, index % per_feature + 1
        if position == 1:
            lines += ["", f"## Area {feature}", "", f"Everything about area {feature}.", ""]
        check = "[x] " if number % 10 == 0 else "[ ] " if number % 2 else ""
        text = f"Build part {number} of area {feature}"
        if position > 1 and number % 3 == 0:
            text += f" (after Build part {number - 1} of area {feature})"
        elif position > 2 and number % 5 == 0:
            text += f" (depends on F{feature:02d}-T{position - 2})"
        if number % 7 == 0:
            text += " [P0]"
        lines.append(f"- {check}{text}")
        if number % 4 == 0:
            lines.append("  With a line that describes it further.")
    return "\n".join(lines) + "\n"


def time_s(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return round(time.perf_counter() - started, 3)


def markdown_figures(owner: Any) -> dict[str, Any]:
    """Parse and import of a large Markdown PRD, beside markdown-it-py on the same text."""
    tokenizer = MarkdownIt()
    parse_s, floor_s = {}, {}
    for count in (10_000, 20_000):
        text = synthetic_prd(count)
        parse_s[str(count)] = time_s(partial(parse_markdown, text))
        floor_s[str(count)] = time_s(partial(tokenizer.parse, text))
    project = services.project_create(owner=owner, name="markdown 10k")
    source = ImportSource("PRD.md", {"PRD.md": synthetic_prd(10_000)})
    import_s = time_s(lambda: plan_import(project=project, source=source, fmt="markdown"))
    assert project.tasks.count() == 10_000
    assert project.tasks.filter(status="done").count() == 1_000
    floor = floor_markdown(
        services.project_create(owner=owner, name="markdown floor"), source.files["PRD.md"]
    )
    return {
        "import_markdown_10k_s": import_s,
        "floor_markdown_10k_s": floor,
        "markdown_vs_floor": round(import_s / floor, 2),
        "parse_markdown_s": parse_s,
        "markdown_it_s": floor_s,
        "parse_vs_markdown_it_10k": round(parse_s["10000"] / max(floor_s["10000"], 1e-6), 2),
    }


def floor_rows_insert(project: Project, feature: Feature, rows: list[dict[str, Any]]) -> None:
    """Store `rows` (key, name, description, verify, extra, status) as task rows the
    fastest way the driver offers: one COPY on PostgreSQL (psycopg's `cursor.copy`),
    one prepared INSERT run for every row (`executemany`) on SQLite. Every other column
    gets its default, as the table needs them (Django sets defaults, not the database)."""
    now = timezone.now()
    fields = [f for f in Task._meta.concrete_fields if not f.primary_key and not f.generated]
    defaults = {}
    for field in fields:
        value = now if field.name in ("created_at", "updated_at") else field.get_default()
        if isinstance(field, JSONField):
            value = json.dumps(value)
        elif isinstance(value, datetime) and connection.vendor != "postgresql":
            value = field.get_db_prep_save(value, connection)
        defaults[field.attname] = value
    defaults |= {"project_id": project.pk, "feature_id": feature.pk}
    names = [field.attname for field in fields]
    table = connection.ops.quote_name(Task._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)

    def line(row: dict[str, Any]) -> tuple[Any, ...]:
        values = defaults | row | {"extra": json.dumps(row["extra"])}
        return tuple(values[name] for name in names)

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(line(row))
        else:
            marks = ", ".join(["%s"] * len(fields))
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({marks})", [line(row) for row in rows]
            )


def taskmaster_rows(text: str) -> list[dict[str, Any]]:
    rows = []
    for raw in json.loads(text)["master"]["tasks"]:
        for task_id, task in [(str(raw["id"]), raw)] + [
            (f"{raw['id']}.{sub['id']}", sub) for sub in raw["subtasks"]
        ]:
            rows.append(
                {
                    "key": task_id,
                    "sort_key": natural_sort_key(task_id),
                    "name": task["title"],
                    "description": task["description"],
                    "verify": task.get("testStrategy", ""),
                    "extra": {"details": task["details"]} if "details" in task else {},
                    "status": task["status"],
                }
            )
    return rows


def floor_import(project: Project, source: ImportSource) -> float:
    """`json.loads` and one bare COPY (SQLite: executemany) of the file's 20,000 task
    rows, in one transaction: no checks, no matching, no dependencies, no version."""
    started = time.perf_counter()
    with transaction.atomic():
        feature = Feature.objects.create(project=project, key="master", name="Bench")
        floor_rows_insert(project, feature, taskmaster_rows(source.files["tasks.json"]))
    return round(time.perf_counter() - started, 3)


def floor_bulk_create(project: Project, source: ImportSource) -> float:
    """The same rows through Django's `bulk_create`, for comparison (the floor an import
    through model instances could not go below)."""
    started = time.perf_counter()
    with transaction.atomic():
        feature = Feature.objects.create(project=project, key="master", name="Bench")
        Task.objects.bulk_create(
            (
                Task(project=project, feature=feature, **row)
                for row in taskmaster_rows(source.files["tasks.json"])
            ),
            batch_size=1000,
        )
    return round(time.perf_counter() - started, 3)


def floor_markdown(project: Project, text: str) -> float:
    """markdown-it-py tokenising the PRD, then one bare COPY (SQLite: executemany) of one
    task row per list item, in one transaction."""
    started = time.perf_counter()
    tokens = MarkdownIt().parse(text)
    rows: list[dict[str, Any]] = []
    for token in tokens:
        if token.type == "inline" and token.level >= 3:  # a list item's text
            key = f"T{len(rows) + 1}"
            rows.append(
                {
                    "key": key,
                    "sort_key": natural_sort_key(key),
                    "name": token.content.split("\n", 1)[0][:300],
                    "description": "",
                    "verify": "",
                    "extra": {},
                    "status": "pending",
                }
            )
    with transaction.atomic():
        feature = Feature.objects.create(project=project, key="F", name="Bench")
        floor_rows_insert(project, feature, rows)
    assert len(rows) == 10_000, len(rows)
    return round(time.perf_counter() - started, 3)


def time_ms(fn: Callable[[], object], repeat: int = 25) -> float:
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
        import_s = {}
        for plans in PLAN_COUNTS:
            source = synthetic_gsd(plans)
            project = services.project_create(owner=owner, name=f"import {plans}")
            started = time.perf_counter()
            outcome = plan_import(project=project, source=source)
            import_s[str(plans)] = round(time.perf_counter() - started, 3)
            assert project.tasks.count() == plans * 3 and outcome.version is not None

        taskmaster_s = {}
        for count in (5_000, 10_000):
            source = synthetic_tasks_json(count)
            project = services.project_create(owner=owner, name=f"taskmaster {count}")
            started, cpu_started = time.perf_counter(), time.process_time()
            plan_import(project=project, source=source, fmt="taskmaster")
            taskmaster_s[count] = round(time.perf_counter() - started, 3)
            taskmaster_cpu_s = round(time.process_time() - cpu_started, 3)
            assert project.tasks.count() == count + count // 3 * 3
        started = time.perf_counter()
        with collector_paused():  # as in plan_import
            parse_source(source, "taskmaster")
        parse_taskmaster_s = round(time.perf_counter() - started, 3)
        started = time.perf_counter()
        again = plan_import(project=project, source=source, fmt="taskmaster")
        reimport_s = round(time.perf_counter() - started, 3)
        assert again.applied and again.result is not None and not again.result.changed
        floor_s = floor_import(services.project_create(owner=owner, name="floor"), source)
        bulk_create_s = floor_bulk_create(
            services.project_create(owner=owner, name="bulk_create"), source
        )

        markdown = markdown_figures(owner)

        project = services.project_create(owner=owner, name="versions")
        plan_import(project=project, source=synthetic_gsd(VERSION_TASKS // 3 + 1))
        started = time.perf_counter()
        version = version_create(project=project, summary="bench", only_if_changed=False)
        version_s = round(time.perf_counter() - started, 3)
        changed = json.loads(json.dumps(version.snapshot))
        for task in changed["tasks"][::10]:
            task["name"] += " (edited)"
        started = time.perf_counter()
        diff = diff_snapshots(version.snapshot, changed)
        diff_s = round(time.perf_counter() - started, 3)
        assert len(diff.kinds["tasks"].changed) == len(changed["tasks"][::10])

        next_ms = {}
        for count in SIZES:
            project = services.project_create(owner=owner, name=f"bench {count}")
            seed(project, count)
            expected = selectors.task_next_ready(project=project)
            assert expected is not None and expected.key == f"T{int(count * 0.9):06d}"
            next_ms[str(count)] = time_ms(partial(selectors.task_next_ready, project=project))
        print(
            json.dumps(
                {
                    "database": connection.vendor,
                    "import_s": import_s,
                    "import_taskmaster_5k_s": taskmaster_s[5_000],
                    "import_taskmaster_10k_s": taskmaster_s[10_000],
                    "import_taskmaster_10k_cpu_s": taskmaster_cpu_s,
                    "parse_taskmaster_10k_s": parse_taskmaster_s,
                    **markdown,
                    "floor_taskmaster_10k_s": floor_s,
                    "import_vs_floor": round(taskmaster_s[10_000] / floor_s, 2),
                    "bulk_create_taskmaster_10k_s": bulk_create_s,
                    "import_vs_bulk_create": round(taskmaster_s[10_000] / bulk_create_s, 2),
                    "reimport_taskmaster_10k_s": reimport_s,
                    "next_ms": next_ms,
                    "version_tasks": len(version.snapshot["tasks"]),
                    "version_s": version_s,
                    "diff_s": diff_s,
                },
                indent=2,
            )
        )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        del test_name


if __name__ == "__main__":
    main()
