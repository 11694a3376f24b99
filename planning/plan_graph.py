"""Waves, the critical path and dependency cycles of a plan, computed once per change of
the plan and kept in the cache.

They need the whole dependency graph, so they cost time in the plan's size; every other
figure of the analytics pages comes from aggregate queries. The cache key carries the
plan's change stamp (planning.outline.plan_stamp), so an entry is never stale, only
unused: a per-process cache (the embedded set-up's local memory) computes it once per
process, a shared one (Redis) once in all.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.cache import cache

from planning import shapes
from planning.analytics import CriticalPath, PlanRow, TaskRow, compute_waves, critical_path
from planning.graph import find_cycle
from planning.models import Project, SubFeature, SubFeatureDependency, TaskDependency

CACHE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class PlanGraph:
    waves: dict[str, int]
    wave_warnings: list[str]
    critical_path: list[str]
    critical_path_minutes: int
    task_cycle: list[str] | None
    plan_cycle: list[str] | None
    # Tasks outside a plan (Task Master, Markdown) have waves of their own: their depth in
    # the task dependency graph plus 1, the wave their rows show.
    task_waves: dict[str, int]


def plan_graph(*, project: Project, stamp: str) -> PlanGraph:
    """The plan's graph figures for the plan as of `stamp`; computed on a cache miss."""
    key = f"planning:plan-graph:2:{project.pk}:{stamp}"
    graph: PlanGraph | None = cache.get(key)
    if graph is None:
        graph = plan_graph_compute(project=project)
        cache.set(key, graph, CACHE_SECONDS)
    return graph


def plan_graph_compute(*, project: Project) -> PlanGraph:
    """A plan with a dependency cycle gets no waves or critical path, only the cycle
    (four queries)."""
    tasks = list(
        project.tasks.values_list("id", "key", "status", "estimated_minutes", "sub_feature_id")
    )
    keys = {row[0]: row[1] for row in tasks}
    task_deps: dict[int, list[int]] = {}
    for task_id, depends_on_id in TaskDependency.objects.filter(task__project=project).values_list(
        "task_id", "depends_on_id"
    ):
        task_deps.setdefault(task_id, []).append(depends_on_id)
    subs = list(
        SubFeature.objects.filter(project=project).values_list(
            "id", "key", "feature__key", "wave", "files_modified"
        )
    )
    sub_keys = {row[0]: row[1] for row in subs}
    sub_deps: dict[int, list[int]] = {}
    for sub_id, depends_on_id in SubFeatureDependency.objects.filter(
        sub_feature__project=project
    ).values_list("sub_feature_id", "depends_on_id"):
        sub_deps.setdefault(sub_id, []).append(depends_on_id)

    task_cycle = find_cycle({keys[t]: [keys[d] for d in ds] for t, ds in task_deps.items()})
    plan_cycle = find_cycle({sub_keys[s]: [sub_keys[d] for d in ds] for s, ds in sub_deps.items()})
    waves: dict[str, int] = {}
    warnings: list[str] = []
    path = CriticalPath(keys=[], minutes=0)
    if plan_cycle is None:
        report = compute_waves(
            PlanRow(
                key=key,
                phase=phase,
                declared_wave=wave,
                depends_on=tuple(sub_keys[d] for d in sub_deps.get(sub_id, ())),
                files_modified=tuple(
                    shapes.SUB_FEATURE_FILES_MODIFIED.tolerant(
                        files, default=list, where=f"plan {key}"
                    )
                ),
            )
            for sub_id, key, phase, wave, files in subs
        )
        waves, warnings = report.waves, report.warnings
        if task_cycle is None:
            rows = (
                TaskRow(
                    key=key,
                    status=status,
                    estimated_minutes=minutes,
                    depends_on=tuple(sorted(keys[d] for d in task_deps.get(task_id, ()))),
                    plan=sub_keys.get(sub_id) if sub_id else None,
                    feature=None,
                )
                for task_id, key, status, minutes, sub_id in tasks
            )
            plan_depends_on = {sub_keys[s]: [sub_keys[d] for d in ds] for s, ds in sub_deps.items()}
            path = critical_path(rows, plan_depends_on)
    return PlanGraph(
        waves=waves,
        wave_warnings=warnings,
        critical_path=path.keys,
        critical_path_minutes=path.minutes,
        task_cycle=task_cycle,
        plan_cycle=plan_cycle,
        task_waves={}
        if task_cycle
        else _depth_waves(
            [task_id for task_id, _, _, _, sub_id in tasks if sub_id is None], task_deps, keys
        ),
    )


def _depth_waves(
    task_ids: list[int], depends_on: dict[int, list[int]], keys: dict[int, str]
) -> dict[str, int]:
    """Key → 1 + the depth of the task in the (acyclic) dependency graph."""
    waves: dict[int, int] = {}
    for start in task_ids:
        stack = [start]
        while stack:
            task_id = stack[-1]
            if task_id in waves:
                stack.pop()
                continue
            pending = [d for d in depends_on.get(task_id, ()) if d not in waves]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            waves[task_id] = 1 + max((waves[d] for d in depends_on.get(task_id, ())), default=0)
    return {keys[task_id]: waves[task_id] for task_id in task_ids}
