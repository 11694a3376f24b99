"""Any plan in the shape a GSD `.planning/` folder needs: numbered phases, and every task
inside a plan.

Plans imported from GSD already have that shape and pass through unchanged. A Task
Master or Markdown plan has features keyed `master` or `F01` and tasks outside any plan:
each such feature becomes the next free phase number, and its loose tasks one plan of
that phase, in their order (a subtask after its parent), which depends on the plans
holding their dependencies. Tasks of no feature get a phase of their own.
"""

from __future__ import annotations

import copy
import re

from core.text import natural_sort_key
from planning.importers.document import FeatureSpec, PlanDocument, SubFeatureSpec, TaskSpec
from planning.importers.gsd.names import NUMBER

PHASE_KEY = re.compile(rf"^{NUMBER}\+?$")
UNASSIGNED = "Unassigned tasks"


def gsd_shaped(document: PlanDocument) -> PlanDocument:
    """`document` itself when it is GSD-shaped, else a reshaped copy (see module doc)."""
    loose = [t for t in document.tasks if t.sub_feature is None]
    if not loose and all(PHASE_KEY.match(f.key) for f in document.features):
        return document
    shaped = copy.deepcopy(document)
    features = sorted(shaped.features, key=lambda f: (f.position, f.key))
    highest = max(
        (int(float(f.key.rstrip("+"))) for f in features if PHASE_KEY.match(f.key)), default=0
    )
    phase_of: dict[str | None, str] = {}
    for feature in features:
        if not PHASE_KEY.match(feature.key):
            highest += 1
        phase_of[feature.key] = feature.key if PHASE_KEY.match(feature.key) else f"{highest:02d}"
    loose_by_feature: dict[str | None, list[TaskSpec]] = {}
    for task in shaped.tasks:
        if task.sub_feature is None:
            loose_by_feature.setdefault(task.feature, []).append(task)
    if None in loose_by_feature:
        phase_of[None] = f"{highest + 1:02d}"
        shaped.features.append(
            FeatureSpec(key=phase_of[None], name=UNASSIGNED, position=len(features))
        )
    for feature in features:
        feature.key = phase_of[feature.key]
    for sub in shaped.sub_features:
        sub.feature = phase_of[sub.feature]
    plan_of: dict[str, str] = {}
    for old_key, tasks in loose_by_feature.items():
        phase = phase_of[old_key]
        feature = next(f for f in shaped.features if f.key == phase)
        taken = sum(1 for s in shaped.sub_features if s.feature == phase)
        plan = SubFeatureSpec(
            key=f"{phase}-{taken + 1:02d}",
            feature=phase,
            name=feature.name,
            objective=feature.description,
        )
        shaped.sub_features.append(plan)
        in_order = sorted(tasks, key=lambda t: (*_place(t), natural_sort_key(t.key)))
        for position, task in enumerate(in_order, start=1):
            task.sub_feature, task.position = plan.key, position
            plan_of[task.key] = plan.key
    subs = {s.key: s for s in shaped.sub_features}
    for task in shaped.tasks:
        holder = subs[task.sub_feature] if task.sub_feature else None
        if holder is None:
            continue
        task.feature = holder.feature
        for dep in task.depends_on:
            other = plan_of.get(dep)
            if other and other != holder.key and other not in holder.depends_on:
                holder.depends_on.append(other)
    return shaped


def _place(task: TaskSpec) -> tuple[str, bool]:
    # A subtask sorts right after its parent.
    return natural_sort_key(task.parent or task.key), task.parent is not None
