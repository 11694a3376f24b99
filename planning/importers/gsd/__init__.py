"""GSD (`get-shit-done`) `.planning/` folders: ROADMAP.md, REQUIREMENTS.md and plans.

A phase becomes a feature, each plan (`NN-MM-PLAN.md`, `NN-MM-slug-PLAN.md`, or any
Markdown file shaped like a plan) a sub-feature and each `<task>` a task keyed
`NN-MM-T<n>`. Plan bodies look like XML but are not: they hold code, `<` signs and
Markdown, so tags are found by scanning outside code fences. The modules split by
topic: `names` (files and keys), `roadmap`, `plan_file`, `tasks` and `folder`.
"""

from planning.importers.gsd.folder import parse_planning_folder
from planning.importers.gsd.names import (
    DEFAULT_PLAN_TYPE,
    FRONT_MATTER_SOURCE,
    PLAN_FILE,
    looks_like_plan,
    number_key,
    plan_key,
)
from planning.importers.gsd.plan_file import parse_plan_file, split_front_matter
from planning.importers.gsd.roadmap import parse_requirements, parse_roadmap
from planning.importers.gsd.tasks import TASK_EXTRAS, TASK_TYPES

__all__ = [
    "DEFAULT_PLAN_TYPE",
    "FRONT_MATTER_SOURCE",
    "PLAN_FILE",
    "TASK_EXTRAS",
    "TASK_TYPES",
    "looks_like_plan",
    "number_key",
    "parse_plan_file",
    "parse_planning_folder",
    "parse_requirements",
    "parse_roadmap",
    "plan_key",
    "split_front_matter",
]
