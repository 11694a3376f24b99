"""Plan analytics computed from the dependency graph: waves, critical path, progress.

Pure functions over plain rows, so they are cheap to test; `planning.selectors.plan_analytics`
loads the rows and calls them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from planning.graph import find_cycle


@dataclass(frozen=True)
class PlanRow:
    key: str
    phase: str
    declared_wave: int
    depends_on: tuple[str, ...]
    files_modified: tuple[str, ...]


@dataclass(frozen=True)
class TaskRow:
    key: str
    status: str
    estimated_minutes: int
    depends_on: tuple[str, ...]
    plan: str | None
    feature: int | None


@dataclass
class WaveReport:
    waves: dict[str, int]
    warnings: list[str] = field(default_factory=list)


def compute_waves(plans: Iterable[PlanRow]) -> WaveReport:
    """GSD waves: a plan's wave is its depth in the `depends_on` graph plus 1, and a plan
    that shares `files_modified` with an earlier plan of the same wave moves later.

    As in GSD, waves order the plans of one phase; a dependency on a plan of an earlier
    phase is met by the phase order and adds no depth. Plans are placed in key order
    within each depth. Declared waves that disagree are reported as warnings. Raises
    ValueError naming a cycle.
    """
    plans = sorted(plans, key=lambda p: p.key)
    by_key = {p.key: p for p in plans}
    cycle = find_cycle({p.key: [d for d in p.depends_on if d in by_key] for p in plans})
    graph = {
        p.key: [d for d in p.depends_on if d in by_key and by_key[d].phase == p.phase]
        for p in plans
    }
    if cycle:
        raise ValueError("plans form a dependency cycle: " + " -> ".join(cycle))
    depth: dict[str, int] = {}

    def depth_of(key: str) -> int:
        stack = [key]
        while stack:
            node = stack[-1]
            pending = [d for d in graph[node] if d not in depth]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            depth[node] = 1 + max((depth[d] for d in graph[node]), default=0)
        return depth[key]

    order = sorted(plans, key=lambda p: (depth_of(p.key), p.key))
    waves: dict[str, int] = {}
    files_in_wave: dict[tuple[str, int], set[str]] = defaultdict(set)
    for plan in order:
        wave = 1 + max((waves[d] for d in graph[plan.key]), default=0)
        files = set(plan.files_modified)
        while files & files_in_wave[plan.phase, wave]:
            wave += 1
        waves[plan.key] = wave
        files_in_wave[plan.phase, wave] |= files
    warnings = [
        f"plan {p.key} declares wave {p.declared_wave} but its dependencies and files put it "
        f"in wave {waves[p.key]}"
        for p in plans
        if p.declared_wave != waves[p.key]
    ]
    return WaveReport(waves=waves, warnings=warnings)


@dataclass
class CriticalPath:
    keys: list[str]
    minutes: int


def critical_path(
    tasks: Iterable[TaskRow], plan_depends_on: Mapping[str, Iterable[str]]
) -> CriticalPath:
    """The longest chain by estimated minutes, through task dependencies and, for tasks in a
    plan, through every task of the plans that plan depends on."""
    tasks = list(tasks)
    by_key = {t.key: t for t in tasks}
    tasks_of_plan: dict[str, list[str]] = defaultdict(list)
    for task in tasks:
        if task.plan:
            tasks_of_plan[task.plan].append(task.key)
    preds: dict[str, list[str]] = {}
    for task in tasks:
        before = [d for d in task.depends_on if d in by_key]
        if task.plan:
            for plan in plan_depends_on.get(task.plan, ()):
                before.extend(tasks_of_plan.get(plan, ()))
        preds[task.key] = before
    finish: dict[str, int] = {}
    via: dict[str, str | None] = {}
    for root in sorted(by_key):
        stack = [root]
        while stack:
            node = stack[-1]
            if node in finish:
                stack.pop()
                continue
            pending = [p for p in preds[node] if p not in finish]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            best = max(preds[node], key=lambda p: (finish[p], p), default=None)
            finish[node] = by_key[node].estimated_minutes + (finish[best] if best else 0)
            via[node] = best
    if not finish:
        return CriticalPath(keys=[], minutes=0)
    end = max(finish, key=lambda k: (finish[k], k))
    path = [end]
    while (previous := via[path[-1]]) is not None:
        path.append(previous)
    return CriticalPath(keys=path[::-1], minutes=finish[end])


@dataclass
class FeatureProgress:
    key: str
    name: str
    total: int
    done: int
    remaining_minutes: int

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0
