"""How applying a plan writes its rows: one kind of row at a time made to match the
document's specs, a batch at a time (new rows as plain rows, changed ones updated, stale
ones collected for deletion at the end), link tables made exact, and the count of what
changed (`ApplyResult`) and of rows applied so far (`RowsProgress`).

Called inside plan_apply's transaction (planning.services.plans), which sets the order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.utils import timezone

from core.text import noun
from planning.models import Project
from planning.row_inserts import rows_insert

BATCH = 1000
# The rows of the document no longer there, by model, for plan_apply to delete at the end:
# (model, primary keys, kind as ApplyResult counts it).
StaleRows = list[tuple[type[models.Model], list[int], str]]


@dataclass
class ApplyResult:
    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    removed: Counter[str] = field(default_factory=Counter)
    # Keys of the tasks a restore sent back to pending, their meaning having changed.
    reset: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed)

    def summary(self) -> str:
        parts = []
        for label, counts in (
            ("added", self.created),
            ("changed", self.updated),
            ("removed", self.removed),
        ):
            if counts:
                parts.append(
                    f"{label} "
                    + ", ".join(f"{n} {noun(kind, n)}" for kind, n in sorted(counts.items()))
                )
        return "; ".join(parts) or "no changes"


# Told (rows applied, rows in all) as an apply goes: an import job's progress by row.
RowsProgress = Callable[[int, int], None]


@dataclass
class RowsTally:
    """The plan's rows applied so far, reported once per batch (BATCH rows) at most."""

    total: int
    report: RowsProgress | None
    applied: int = 0

    def add(self, count: int) -> None:
        self.applied += count
        if self.report is not None and count:
            self.report(self.applied, self.total)


def rows_sync(
    *,
    model: type[models.Model],
    kind: str,
    existing: dict[str, Any],
    specs: Sequence[Any],
    key_of: Any,
    columns: Sequence[str],
    build: Any,
    values_of: Any,
    result: ApplyResult,
    prune: StaleRows | None,
    tally: RowsTally,
) -> None:
    """Create and update (only what differs) rows to match `specs`, a batch at a time;
    with `prune`, collect the rows the document no longer has, for the caller to delete
    at the end. `build` gives a new row's values by field attname: new rows go in as
    plain rows (row_inserts.rows_insert), never as model instances."""
    now = timezone.now()
    update_fields = list(columns)
    if any(f.name == "updated_at" for f in model._meta.concrete_fields):
        update_fields.append("updated_at")
    for start in range(0, len(specs), BATCH):
        batch = specs[start : start + BATCH]
        to_create: list[dict[str, Any]] = []
        to_update = []
        for spec in batch:
            values = values_of(spec)
            row = existing.get(key_of(spec))
            if row is None:
                to_create.append(build(spec, values))
                continue
            if any(getattr(row, column) != values[column] for column in values):
                for column, value in values.items():
                    setattr(row, column, value)
                if hasattr(row, "updated_at"):
                    row.updated_at = now
                to_update.append(row)
        rows_insert(model, to_create)
        if to_update:
            model._default_manager.bulk_update(to_update, update_fields)
        if to_create:
            result.created[kind] += len(to_create)
        if to_update:
            result.updated[kind] += len(to_update)
        tally.add(len(batch))
    if prune is not None:
        wanted = {key_of(spec) for spec in specs}
        stale = [row.pk for key, row in existing.items() if key not in wanted]
        if stale:
            prune.append((model, stale, kind))


def links_sync(
    *,
    through: type[models.Model],
    owner_field: str,
    target_field: str,
    owners: Iterable[int],
    wanted: set[tuple[int, int]],
    result: ApplyResult,
    kind: str,
    project: Project,
) -> None:
    """Make the (owner, target) pairs of `owners` exactly `wanted`."""
    owners = set(owners)
    owner_name = through._meta.get_field(owner_field).name
    # Read by project, not by an IN list of every owner: a plan's 20,000 task ids as
    # one parameter cost more to send than the project's links to read.
    current = {
        pair
        for pair in through._default_manager.filter(
            **{f"{owner_name}__project_id": project.pk}
        ).values_list(owner_field, target_field)
        if pair[0] in owners
    }
    missing, extra = wanted - current, current - wanted
    if extra:
        query = models.Q()
        for owner, target in extra:
            query |= models.Q(**{owner_field: owner, target_field: target})
        through._default_manager.filter(query).delete()
    rows_insert(through, [{owner_field: o, target_field: t} for o, t in missing])
    if missing:
        result.created[kind] += len(missing)
    if extra:
        result.removed[kind] += len(extra)
