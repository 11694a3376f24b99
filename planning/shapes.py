"""The shapes of the planning models' JSON fields, declared once for every writer.

The models list them in `json_shapes` (checked by `full_clean`: the API, the admin and
the dashboard); a plan document checks its specs against the same ones before it is
applied (imports, generation, chat edits, restores). Keys not named here are free-form
JSON the importers keep for a faithful round trip, so only their count is capped.
"""

from typing import Any

from core.shapes import LABEL, JsonShape, json_object, string_list

TEXT = {"type": "string", "maxLength": 100_000}

# The GSD `<task>` body sections an importer keeps in a task's `extra`; the exporter writes
# each back as text.
TASK_TEXT_EXTRAS = (
    "what-built",
    "how-to-verify",
    "resume-signal",
    "decision",
    "context",
    "behavior",
    "implementation",
    "instructions",
    "acceptance_criteria",
    "details",
)
SUB_FEATURE_TEXT_EXTRAS = (
    "plan_type",
    "execution_context",
    "context",
    "verification",
    "success_criteria",
    "output",
)

# A decision checkpoint's option; pros and cons are a text or a list of them.
_TEXTS = {"type": ["string", "array"], "items": TEXT, "maxLength": 100_000, "maxItems": 100}
_OPTION = {
    "type": "object",
    "properties": {
        "id": {"type": ["string", "integer"]},
        "name": TEXT,
        "description": TEXT,
        "pros": _TEXTS,
        "cons": _TEXTS,
    },
}

TASK_FILES = JsonShape(string_list(), name="files")
TASK_EXTRA = JsonShape(
    json_object(
        {
            **{name: TEXT for name in TASK_TEXT_EXTRAS},
            "read_first": string_list(),
            # Dependency phrases that name no task ("after the Regla 4 section"): hints.
            "dependency_notes": string_list(item=TEXT),
            "options": {"type": "array", "items": _OPTION, "maxItems": 100},
            "parent": {"type": ["string", "integer"]},
        }
    ),
    name="extra",
)

SUB_FEATURE_FILES_MODIFIED = JsonShape(string_list(), name="files_modified")
SUB_FEATURE_MUST_HAVES = JsonShape(
    json_object(
        {
            "truths": string_list(item=TEXT),
            "artifacts": {"type": "array", "maxItems": 1000},
            "key_links": {"type": "array", "maxItems": 1000},
        },
        max_properties=20,
    ),
    name="must_haves",
)
SUB_FEATURE_EXTRA = JsonShape(
    json_object(
        {
            **{name: TEXT for name in SUB_FEATURE_TEXT_EXTRAS},
            "external_depends_on": string_list(item=LABEL),
            "dependency_notes": string_list(item=TEXT),
        }
    ),
    name="extra",
)

PROJECT_ENABLED_TOOLS = JsonShape(string_list(max_items=100, item=LABEL), name="enabled_tools")

CONVERSATION_DATA = JsonShape(json_object(max_properties=50), name="data")
MESSAGE_METADATA = JsonShape(
    json_object(
        {
            "edits": {"type": "array", "items": {"type": "object"}, "maxItems": 500},
            "edit_status": {"enum": ["proposed", "applied", "discarded"]},
            "preview": {"type": "object"},
            "version": {"type": "integer"},
        },
        max_properties=50,
    ),
    name="metadata",
)

# A version's snapshot is made from a checked plan; its outline is what readers rely on.
SNAPSHOT: dict[str, Any] = {
    "type": "object",
    "properties": {
        part: {"type": "array", "items": {"type": "object"}}
        for part in ("requirements", "features", "sub_features", "tasks")
    },
}
PLAN_SNAPSHOT = JsonShape(SNAPSHOT, name="snapshot")

# What a finished import job reports: the same fields a synchronous import answers with.
_COUNTS = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}
_PREVIEW_TASK = {
    "type": "object",
    "required": ["key", "name"],
    "additionalProperties": False,
    "properties": {
        "key": {"type": "string", "maxLength": 100},
        "name": TEXT,
        "changed_fields": string_list(max_items=100, item=LABEL),
    },
}
_PREVIEW_TASKS = {"type": "array", "maxItems": 1_000_000, "items": _PREVIEW_TASK}

# What a file from another source would do to the plan, kept while its job awaits the
# choice between replacing the plan and merging: every task, paged when shown.
IMPORT_JOB_PREVIEW = {
    "type": "object",
    "required": ["file_source", "plan_sources", "summary", "counts", "added", "changed", "removed"],
    "additionalProperties": False,
    "properties": {
        "file_source": TEXT,
        "plan_sources": string_list(max_items=1000, item=TEXT),
        "summary": TEXT,
        "counts": _COUNTS,
        "added": _PREVIEW_TASKS,
        "changed": _PREVIEW_TASKS,
        "removed": _PREVIEW_TASKS,
    },
}

IMPORT_JOB_RESULT = JsonShape(
    json_object(
        {
            "preview": IMPORT_JOB_PREVIEW,
            "applied": {"type": "boolean"},
            "mode": {"enum": ["ask", "replace", "merge"]},
            "summary": TEXT,
            "version": {"type": ["integer", "null"]},
            "created": _COUNTS,
            "updated": _COUNTS,
            "removed": _COUNTS,
            "warnings": string_list(max_items=10_000, item=TEXT),
        },
        max_properties=10,
    ),
    name="result",
)

# Where an import found each row of a version, by kind and key (beside its snapshot).
VERSION_SOURCE_IDENTITIES = JsonShape(
    {
        # null: a version saved before identities were kept.
        "type": ["object", "null"],
        "additionalProperties": False,
        "properties": {
            kind: {"type": "object", "additionalProperties": {"type": "string", "maxLength": 1000}}
            for kind in ("features", "sub_features", "tasks")
        },
    },
    name="source_identities",
)
