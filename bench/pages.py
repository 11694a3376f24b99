"""Dashboard pages on a 10,000-task project. Prints one JSON object.

Builds two projects of 10,000 tasks each in a throwaway database created next to the
configured one (the way the test suite does), so it never touches real data:

- `taskmaster`: a Task Master tasks.json of 10,000 tasks, every third with a subtask
  (13,333 tasks in all), imported through the importer, as a user would; Task Master has
  no sub-features, so its tasks sit in one feature, outside any sub-feature;
- `gsd`: 20 features of 25 sub-features of 20 tasks, applied through plan_apply (the
  bulk service imports use), for the sub-feature pages.

Each page is served through the whole Django stack (the test client: session, user,
membership, the view, the template) and reports its median time, its query count and
its size. `floor` is the health endpoint served the same way: what any request costs;
`select_1_ms` is one round trip to the database, what each query costs at the least.
The live polls (the project header's, the board's and the plan summary's) are asked
again with the ETag they last answered, with nothing changed: each must answer 304.

    .venv/bin/python bench/pages.py                      # SQLite
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crewboard .venv/bin/python bench/pages.py

To measure another page, add a Page to PAGES (the run trace goes there).
"""

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from planning import services  # noqa: E402
from planning.importers import ImportSource  # noqa: E402
from planning.importers.document import (  # noqa: E402
    FeatureSpec,
    PlanDocument,
    SubFeatureSpec,
    TaskSpec,
)
from planning.models import Project  # noqa: E402
from planning.services.imports import plan_import  # noqa: E402
from planning.services.plans import plan_apply  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
TASKS = int(os.environ.get("BENCH_TASKS", "10000"))
# Request META, passed as keywords to the test client (Any: they mix with its own).
HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}
TARGETS = {"page_ms": 150, "page_bytes": 200_000, "poll_ms": 10, "poll_queries": 2}
STATUSES = ["done", "done", "pending", "pending", "in-progress", "review", "blocked", "deferred"]


@dataclass
class Setup:
    """What pages are measured on: the two projects, their owner, and handy rows."""

    owner: object
    taskmaster: Project
    gsd: Project
    ids: dict[str, int] = field(default_factory=dict)


@dataclass
class Page:
    """One measured page: `url` builds its address from the setup; `headers` are sent
    with every request; `status` is what it must answer."""

    name: str
    url: Callable[[Setup], str]
    headers: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    # Set for a conditional request: headers computed once from a first answer.
    prepare: Callable[[Client, str], dict[str, Any]] | None = None


def _etag_of(client: Client, url: str) -> dict[str, Any]:
    response = client.get(url, **HTMX)
    return {"HTTP_IF_NONE_MATCH": response.headers["ETag"], **HTMX}


def _url(name: str, *args: object) -> str:
    return reverse(name, args=args)


def _middle_key(setup: Setup) -> str:
    """A task from the middle of the big project, with a dependency and a dependent."""
    keys = setup.taskmaster.tasks.order_by("pk").values_list("key", flat=True)
    return str(keys[TASKS // 2 + 1])


PAGES: list[Page] = [
    Page("plan_page", lambda s: _url("planning:project-detail", s.taskmaster.slug)),
    Page(
        "plan_page_gsd",
        lambda s: _url("planning:project-detail", s.gsd.slug),
    ),
    Page(
        "feature_opened",
        lambda s: _url("planning:plan-feature", s.gsd.slug, s.ids["gsd_feature"]),
        HTMX,
    ),
    Page(
        "sub_feature_tasks",
        lambda s: _url("planning:plan-tasks", s.gsd.slug) + f"?sub_feature={s.ids['gsd_sub']}",
        HTMX,
    ),
    Page(
        "loose_tasks_last_page",
        lambda s: (
            _url("planning:plan-tasks", s.taskmaster.slug)
            + f"?feature={s.ids['tm_feature']}&page=9999"
        ),
        HTMX,
    ),
    Page("plan_summary", lambda s: _url("planning:project-detail", s.taskmaster.slug), HTMX),
    Page("board", lambda s: _url("planning:project-board", s.taskmaster.slug)),
    Page("board_gsd_filtered", lambda s: _url("planning:project-board", s.gsd.slug) + "?q=1"),
    Page(
        "board_column_more",
        lambda s: _url("planning:project-board", s.taskmaster.slug) + "?column=todo&page=50",
        HTMX,
    ),
    Page("task_page", lambda s: _url("planning:task-detail", s.taskmaster.slug, _middle_key(s))),
    Page("analytics_page", lambda s: _url("planning:project-analytics", s.taskmaster.slug)),
    Page("analytics_page_gsd", lambda s: _url("planning:project-analytics", s.gsd.slug)),
    Page("api_analytics", lambda s: f"/api/v1/projects/{s.taskmaster.slug}/analytics/"),
    Page("project_list", lambda s: _url("planning:project-list")),
    Page(
        "live_poll_unchanged",
        lambda s: _url("planning:project-detail", s.taskmaster.slug),
        status=304,
        prepare=_etag_of,
    ),
    Page(
        "header_poll_unchanged",
        lambda s: _url("planning:project-live", s.taskmaster.slug),
        status=304,
        prepare=_etag_of,
    ),
    Page(
        "board_poll_unchanged",
        lambda s: _url("planning:project-board", s.taskmaster.slug),
        status=304,
        prepare=_etag_of,
    ),
    Page("header_poll_changed", lambda s: _url("planning:project-live", s.taskmaster.slug), HTMX),
    Page("board_live", lambda s: _url("planning:project-board", s.taskmaster.slug), HTMX),
    Page("task_record", lambda s: _url("agents:task-record", s.taskmaster.slug, _middle_key(s))),
    Page("floor", lambda s: _url("healthz")),
]


def taskmaster_json(n: int) -> str:
    tasks = []
    for i in range(1, n + 1):
        task: dict[str, object] = {
            "id": i,
            "title": f"Task {i}: build part {i} of the system",
            "description": f"Part {i}.",
            "details": "Write it, test it.",
            "testStrategy": "pytest",
            "priority": ["high", "medium", "low"][i % 3],
            "dependencies": [i - 1] if i > 1 and i % 4 else [],
            "status": STATUSES[i % len(STATUSES)] if i < n * 0.6 else "pending",
            "subtasks": [],
        }
        if i % 3 == 0:
            task["subtasks"] = [
                {"id": 1, "title": f"Check part {i}", "description": "", "status": "pending"}
            ]
        tasks.append(task)
    return json.dumps({"master": {"tasks": tasks, "metadata": {"name": "Big backlog"}}})


def gsd_document(n: int) -> PlanDocument:
    features, subs, tasks = 20, 25, max(1, n // 500)
    document = PlanDocument(source="bench")
    for f in range(features):
        document.features.append(FeatureSpec(key=f"{f:02d}", name=f"Phase {f}", position=f))
        for s in range(subs):
            sub_key = f"{f:02d}-{s:02d}"
            document.sub_features.append(
                SubFeatureSpec(
                    key=sub_key,
                    feature=f"{f:02d}",
                    name=f"Plan {sub_key}",
                    wave=1 + s // 5,
                    position=s,
                    depends_on=[f"{f:02d}-{s - 5:02d}"] if s >= 5 else [],
                    files_modified=[f"src/m{f}_{s}.py"],
                )
            )
            for t in range(tasks):
                done = f < 8
                document.tasks.append(
                    TaskSpec(
                        key=f"{sub_key}-T{t}",
                        name=f"Step {t} of plan {sub_key}",
                        feature=f"{f:02d}",
                        sub_feature=sub_key,
                        wave=1 + s // 5,
                        position=t,
                        depends_on=[f"{sub_key}-T{t - 1}"] if t else [],
                        status="done" if done else ("in_progress" if t == 0 else "pending"),
                    )
                )
    return document


def build() -> Setup:
    owner = get_user_model().objects.create_user("bench-pages")
    taskmaster = services.project_create(owner=owner, name="Task Master backlog")
    started = time.perf_counter()
    text = taskmaster_json(TASKS)
    plan_import(
        project=taskmaster,
        source=ImportSource(name="tasks.json", files={"tasks.json": text}),
        fmt="taskmaster",
        actor=owner,
    )
    import_s = time.perf_counter() - started
    gsd = services.project_create(owner=owner, name="GSD phases")
    plan_apply(project=gsd, document=gsd_document(TASKS))
    # A few more projects for the project list.
    for n in range(30):
        services.project_create(owner=owner, name=f"Side project {n}")
    if connection.vendor == "postgresql":
        # Statistics for the new rows, as autovacuum would gather them soon after.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    setup = Setup(owner=owner, taskmaster=taskmaster, gsd=gsd)
    setup.ids["tm_feature"] = taskmaster.features.get().pk
    middle = gsd.sub_features.get(key="10-12")
    setup.ids["gsd_feature"] = middle.feature_id
    setup.ids["gsd_sub"] = middle.pk
    setup.ids["import_ms"] = round(import_s * 1000)
    return setup


def measure(client: Client, setup: Setup, page: Page) -> dict[str, object]:
    url = page.url(setup)
    headers = page.prepare(client, url) if page.prepare else page.headers
    first = client.get(url, **headers)
    assert first.status_code == page.status, (page.name, first.status_code)
    queries: list[str] = []

    def counted(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counted):
        client.get(url, **headers)
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        response = client.get(url, **headers)
        times.append((time.perf_counter() - started) * 1000)
    return {
        "ms": round(statistics.median(times), 1),
        "queries": len(queries),
        "bytes": len(response.content),
    }


def _median_query_ms() -> float:
    """One round trip to the database: what each query of a page costs at the least."""
    times = []
    with connection.cursor() as cursor:
        for _ in range(ROUNDS * 10):
            started = time.perf_counter()
            cursor.execute("SELECT 1")
            cursor.fetchone()
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure_all() -> dict[str, object]:
    cache.clear()
    setup = build()
    client = Client(HTTP_HOST="localhost")
    client.force_login(setup.owner)  # type: ignore[arg-type]
    tasks = setup.taskmaster.tasks.count()
    figures: dict[str, object] = {
        "database": connection.vendor,
        "cache": type(cache).__name__,
        "tasks": {"taskmaster": tasks, "gsd": setup.gsd.tasks.count()},
        "import_taskmaster_ms": setup.ids["import_ms"],
        "targets": TARGETS,
    }
    # The first analytics view of a plan computes its graph; later ones read the cache.
    started = time.perf_counter()
    client.get(_url("planning:project-analytics", setup.taskmaster.slug))
    figures["analytics_first_view_ms"] = round((time.perf_counter() - started) * 1000, 1)
    pages = {page.name: measure(client, setup, page) for page in PAGES}
    figures["pages"] = pages
    figures["select_1_ms"] = round(_median_query_ms(), 2)
    polls = {name for name in pages if name.endswith("_poll_unchanged")}
    figures["within_targets"] = {
        name: bool(
            figure["ms"] < TARGETS["page_ms"]  # type: ignore[operator]
            and figure["bytes"] < TARGETS["page_bytes"]  # type: ignore[operator]
        )
        for name, figure in pages.items()
        if name not in {*polls, "floor"}
    }
    for name in polls:
        poll = pages[name]
        figures["within_targets"][name] = bool(  # type: ignore[index]
            poll["ms"] < TARGETS["poll_ms"] and poll["queries"] <= TARGETS["poll_queries"]  # type: ignore[operator]
        )
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
