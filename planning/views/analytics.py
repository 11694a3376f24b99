"""The analytics page: progress per feature, computed against declared waves, the
critical path and the ready, blocked, in-progress and done sets, each list a page at a
time."""

from collections import Counter
from dataclasses import dataclass
from urllib.parse import quote

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from core.htmx import AuthenticatedHtmxRequest
from planning import analytics_pages as reads
from planning import selectors
from planning.outline import plan_stamp
from planning.plan_graph import plan_graph

PER_PAGE = 50
# The critical path shows this many of its tasks; a longer one says how many more.
CRITICAL_PATH_SHOWN = 100


@dataclass
class TaskLink:
    """A task named on the analytics page; `url` opens its row on the plan page."""

    key: str
    name: str
    pk: int | None
    url: str = ""


@dataclass
class WaveRow:
    key: str
    name: str
    feature: str
    declared: int
    computed: int | None

    @property
    def differs(self) -> bool:
        return self.computed is not None and self.computed != self.declared


@dataclass
class Pager:
    """Links to a list's neighbouring pages; each list keeps its own page parameter, so
    paging one leaves the others where they are."""

    page: reads.Slice
    previous_url: str
    next_url: str

    @classmethod
    def of(
        cls, request: AuthenticatedHtmxRequest, param: str, page: reads.Slice, anchor: str
    ) -> "Pager":
        def url(number: int) -> str:
            query = request.GET.copy()
            query[param] = str(number)
            return f"?{query.urlencode()}#{anchor}"

        return cls(
            page=page,
            previous_url=url(page.previous_page_number) if page.has_previous else "",
            next_url=url(page.next_page_number) if page.has_next else "",
        )


@dataclass
class TaskSet:
    slug: str
    label: str
    help: str
    count: int
    pager: Pager
    tasks: list[TaskLink]
    # Shown open when the person is paging through it.
    open: bool


TASK_SETS = [
    ("ready", "Ready", "Pending, with every dependency done."),
    ("blocked", "Blocked", "Marked blocked, or pending on a task or plan not yet done."),
    ("in-progress", "In progress", "In progress or in review."),
    ("done", "Done", ""),
]


@login_required
@require_GET
def project_analytics(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """Progress per feature, computed against declared waves, the critical path and the
    ready/blocked/in-progress/done sets. A dependency cycle is named in place of the waves
    and critical path it makes impossible. Waves and the critical path are computed once
    per change of the plan; every list shows one page. A constant number of queries,
    whatever the plan.
    """
    project, _ = selectors.project_for_user(user=request.user, slug=slug)
    stamp = plan_stamp(project=project)
    graph = plan_graph(project=project, stamp=stamp)
    sets = reads.task_sets(project=project, stamp=stamp)
    params = request.GET

    shown: dict[str, list[str]] = {}
    pages: dict[str, reads.Slice] = {}
    for set_slug, _, _ in TASK_SETS:
        keys = sets.of(set_slug)
        pages[set_slug] = reads.Slice.of(
            params.get(f"{set_slug}-page"), per_page=PER_PAGE, total=len(keys)
        )
        shown[set_slug] = keys[pages[set_slug].start : pages[set_slug].end]
    shown_path = graph.critical_path[:CRITICAL_PATH_SHOWN]
    # Every task named on the page, in one query.
    labels = reads.task_labels(
        project=project, keys=[*shown_path, *(key for keys in shown.values() for key in keys)]
    )

    # Built here once rather than reversed for each of the page's hundreds of links.
    plan_url = reverse("planning:project-detail", args=[project.slug])

    def link(key: str) -> TaskLink:
        pk, name = labels.get(key, (None, ""))
        return TaskLink(
            key=key, name=name, pk=pk, url=f"{plan_url}?task={quote(key, safe='')}#task-{pk}"
        )

    task_sets = []
    for set_slug, label, help_text in TASK_SETS:
        param = f"{set_slug}-page"
        pager = Pager.of(request, param, pages[set_slug], f"tasks-{set_slug}")
        tasks = [link(key) for key in shown[set_slug]]
        count = pages[set_slug].total
        task_sets.append(TaskSet(set_slug, label, help_text, count, pager, tasks, param in params))

    progress_page = reads.Slice.of(
        params.get("progress-page"), per_page=PER_PAGE, total=project.features.count()
    )
    progress = reads.cached_per_stamp(
        project,
        stamp,
        f"progress:{progress_page.number}",
        lambda: reads.feature_progress(
            project=project, start=progress_page.start, end=progress_page.end
        ),
    )

    plans = reads.plan_rows(project=project)
    waves_page = reads.Slice.of(
        params.get("waves-page"), per_page=PER_PAGE, total=project.sub_features.count()
    )
    wave_rows = [
        WaveRow(
            key=plan.key,
            name=plan.name,
            feature=plan.feature.key,
            declared=plan.wave,
            computed=graph.waves.get(plan.key),
        )
        for plan in plans[waves_page.start : waves_page.end]
    ]
    critical_path = [link(key) for key in shown_path]
    context = {
        "project": project,
        "graph": graph,
        "has_cycle": bool(graph.task_cycle or graph.plan_cycle),
        "wave_warnings": graph.wave_warnings[:PER_PAGE],
        "wave_warnings_more": max(0, len(graph.wave_warnings) - PER_PAGE),
        "wave_rows": wave_rows,
        "task_wave_counts": sorted(Counter(graph.task_waves.values()).items()),
        "waves_pager": Pager.of(request, "waves-page", waves_page, "analytics-waves"),
        "progress": progress,
        "progress_pager": Pager.of(request, "progress-page", progress_page, "analytics-progress"),
        "critical_path": critical_path,
        "critical_path_length": len(graph.critical_path),
        "critical_path_more": len(graph.critical_path) - len(shown_path),
        "task_sets": task_sets,
        "task_total": sets.total,
    }
    return render(request, "planning/project_analytics.html", context)
