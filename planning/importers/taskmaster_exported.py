"""What Crewboard's own Task Master export adds to a tasks.json, read back: each task's
key and plan place in `metadata.crewboard`, and on the first task the features, plans
and requirements, so that importing an export gives back the identical plan."""

from __future__ import annotations

import json
from typing import Any

from planning.importers.document import (
    FeatureSpec,
    Origin,
    PlanDocument,
    PlanImportError,
    RequirementSpec,
    SubFeatureSpec,
    TaskSpec,
)

# Crewboard's own metadata on an exported file.
CREWBOARD = "crewboard"

# While parsing, a task read from a Crewboard export remembers the Task Master id its
# dependencies use; the reader (taskmaster._resolve) maps those ids to the keys and drops
# the note.
LOCAL_ID = "\0taskmaster-id"


# TaskSpec fields an export keeps in `metadata.crewboard`; the rest have Task Master fields.
CREWBOARD_TASK_FIELDS = (
    "key",
    "feature",
    "sub_feature",
    "files",
    "done_criteria",
    "type",
    "size",
    "wave",
    "position",
    "estimated_minutes",
    "max_iterations",
)


def exported_plan(tasks: list[Any]) -> dict[str, Any] | None:
    """The features, plans and requirements a Crewboard export keeps on its first task
    (Task Master rewrites a tag's metadata, but keeps a task's)."""
    first = tasks[0] if tasks and isinstance(tasks[0], dict) else {}
    metadata = first.get("metadata")
    entry = metadata.get(CREWBOARD) if isinstance(metadata, dict) else None
    plan = entry.get("plan") if isinstance(entry, dict) else None
    return plan if isinstance(plan, dict) else None


def read_plan_places(document: PlanDocument, crewboard: dict[str, Any], origin: Origin) -> None:
    """Features, plans and requirements of a Crewboard export, as it wrote them."""
    try:
        document.features.extend(
            FeatureSpec(**row, origin=origin) for row in crewboard.get("features", [])
        )
        document.sub_features.extend(
            SubFeatureSpec(**row, origin=origin) for row in crewboard.get("sub_features", [])
        )
        document.requirements.extend(
            RequirementSpec(**row, origin=origin) for row in crewboard.get("requirements", [])
        )
    except TypeError as exc:
        raise PlanImportError(
            f"metadata.{CREWBOARD} is not what Crewboard exports ({exc})", origin=origin
        ) from None


def crewboard_metadata(extra: dict[str, Any]) -> dict[str, Any] | None:
    """Take Crewboard's entry out of a task's `metadata`, leaving the rest of it."""
    metadata = extra.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get(CREWBOARD), dict):
        return None
    rest = {k: v for k, v in metadata.items() if k != CREWBOARD}
    if rest:
        extra["metadata"] = rest
    else:
        del extra["metadata"]
    entry: dict[str, Any] = metadata[CREWBOARD]
    return entry


def apply_crewboard_fields(spec: TaskSpec, crewboard: dict[str, Any], origin: Origin) -> None:
    spec.extra[LOCAL_ID] = spec.key
    unknown = set(crewboard) - {*CREWBOARD_TASK_FIELDS, "description", "plan"}
    if unknown:
        raise PlanImportError(
            f"metadata.{CREWBOARD} of task {spec.key} has unknown fields: "
            f"{', '.join(sorted(unknown))}",
            origin=origin,
        )
    for name in (*CREWBOARD_TASK_FIELDS, "description"):
        if name in crewboard:
            setattr(spec, name, crewboard[name])
    for name in ("key", "description"):
        if not isinstance(getattr(spec, name), str):
            raise PlanImportError(
                f"metadata.{CREWBOARD}.{name} must be text, not "
                f"{json.dumps(getattr(spec, name))[:60]}",
                origin=origin,
            )
