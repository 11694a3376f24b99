"""The analytics page: progress per feature, computed against declared waves, the
critical path and the ready, blocked, in-progress and done sets."""

from collections import Counter
from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.htmx import AuthenticatedHtmxRequest
from planning import selectors


@dataclass
class TaskLink:
    """A task named on the analytics page; `pk` finds its row (`#task-<pk>`) on the plan."""

    key: str
    name: str
    pk: int | None


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
class TaskSet:
    slug: str
    label: str
    help: str
    tasks: list[TaskLink]


@login_required
@require_GET
def project_analytics(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """Progress per feature, computed against declared waves, the critical path and the
    ready/blocked/in-progress/done sets. A dependency cycle is named in place of the waves
    and critical path it makes impossible. A constant number of queries, whatever the plan.
    """
    project, _ = selectors.project_for_user(user=request.user, slug=slug)
    analytics = selectors.plan_analytics(project=project)
    tasks = {
        key: TaskLink(key=key, name=name, pk=pk)
        for key, (pk, name) in analytics.task_labels.items()
    }

    def links(keys: list[str]) -> list[TaskLink]:
        return [tasks.get(key) or TaskLink(key=key, name="", pk=None) for key in keys]

    wave_rows = [
        WaveRow(
            key=key,
            name=name,
            feature=feature,
            declared=wave,
            computed=analytics.waves.get(key),
        )
        for key, name, feature, wave in analytics.plans
    ]
    task_sets = [
        TaskSet("ready", "Ready", "Pending, with every dependency done.", links(analytics.ready)),
        TaskSet(
            "blocked",
            "Blocked",
            "Marked blocked, or pending on a task or plan not yet done.",
            links(analytics.blocked),
        ),
        TaskSet(
            "in-progress", "In progress", "In progress or in review.", links(analytics.in_progress)
        ),
        TaskSet("done", "Done", "", links(analytics.done)),
    ]
    context = {
        "project": project,
        "analytics": analytics,
        "has_cycle": bool(analytics.task_cycle or analytics.plan_cycle),
        "wave_rows": wave_rows,
        "task_wave_counts": sorted(Counter(analytics.task_waves.values()).items()),
        "critical_path": links(analytics.critical_path),
        "task_sets": task_sets,
        "task_total": len(tasks),
    }
    return render(request, "planning/project_analytics.html", context)
