"""One GSD plan file: front matter, the plan's sections, and its tasks (see tasks.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import yaml

from planning.importers.document import Origin, PlanImportError, SubFeatureSpec, TaskSpec
from planning.importers.gsd.names import (
    DEFAULT_PLAN_TYPE,
    NUMBER,
    PHASE_DIR,
    canonical_plan_id,
    number_key,
    plan_key,
)
from planning.importers.gsd.tasks import parse_tasks
from planning.importers.text import dedent_block, find_elements, line_of, mask_code_fences
from planning.importers.titles import shorten, title_from_text

# libyaml's loader when PyYAML was built with it: the same safe subset, several times faster.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
KNOWN_FRONT_MATTER = {
    "phase",
    "plan",
    "type",
    "wave",
    "depends_on",
    "files_modified",
    "files-modified",
    "autonomous",
    "requirements",
    "must_haves",
    "name",
    "title",
}
PLAN_SECTIONS = (
    "objective",
    "execution_context",
    "context",
    "verification",
    "success_criteria",
    "output",
)


@dataclass
class ParsedPlan:
    sub: SubFeatureSpec
    tasks: list[TaskSpec]
    # The phase folder's slug (`01-foundation` → `foundation`), for the feature's name.
    phase_slug: str
    # Where the file named no plan number and was given the next free one.
    numbered_by_position: bool = False
    # Where nothing named the phase and the caller's default was taken.
    phase_defaulted: bool = False
    warnings: list[str] = field(default_factory=list)


def split_front_matter(text: str, *, path: str) -> tuple[dict[str, Any], str, int]:
    """(front matter, body, line number where the body starts)."""
    if not text.startswith("---"):
        return {}, text, 1
    closing = re.search(r"^---\s*$", text[3:], re.MULTILINE)
    if not closing:
        raise PlanImportError(
            "front matter opened with '---' is never closed: expected a line with '---'",
            origin=Origin(path, 1),
        )
    raw = text[3 : 3 + closing.start()]
    body = text[3 + closing.end() :]
    try:
        data = yaml.load(raw, Loader=SAFE_LOADER) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1  # the YAML text starts on the '---' line
        problem = getattr(exc, "problem", None) or str(exc)
        raise PlanImportError(
            f"front matter is not valid YAML ({problem}): expected 'key: value' lines",
            origin=Origin(path, line),
        ) from None
    if not isinstance(data, dict):
        raise PlanImportError(
            "front matter must be a mapping of 'key: value' lines", origin=Origin(path, 2)
        )
    return data, body, line_of(text, 3 + closing.end())


def as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [str(value)]


def _as_bool(value: Any, default: bool = True) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "yes", "1", "on")


def _json_safe(value: Any) -> Any:
    """YAML can yield dates and other objects; JSON columns need plain values."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _phase_of(front: dict[str, Any], path: str) -> tuple[str, str] | None:
    """(phase key, phase slug) from the front matter, the file name or the folder."""
    phase_dir = PurePosixPath(path).parent.name
    dir_match = PHASE_DIR.match(phase_dir)
    dir_slug = (dir_match["slug"] if dir_match else "") or ""
    phase_value = front.get("phase")
    phase_match = PHASE_DIR.match(str(phase_value).strip()) if phase_value is not None else None
    if phase_match:
        return number_key(phase_match["phase"]), phase_match["slug"] or dir_slug
    named = canonical_plan_id(PurePosixPath(path).name)
    if named:
        return number_key(named[0]), dir_slug
    if dir_match:
        return number_key(dir_match["phase"]), dir_slug
    return None


def parse_plan_file(
    text: str,
    *,
    path: str,
    default_phase: str | None = None,
    next_plan: Callable[[str], int] = lambda phase: 1,
) -> ParsedPlan:
    """One plan file: the plan as a sub-feature plus its tasks in order.

    The phase comes from the `phase:` key, the file name (`07-03-…-PLAN.md`) or the phase
    folder, else `default_phase`; the plan number from `plan:` or the file name, else
    `next_plan`. Raises PlanImportError naming the file and line of a problem.
    """
    front, body, body_line = split_front_matter(text, path=path)
    phase_of = _phase_of(front, path)
    phase_defaulted = phase_of is None and default_phase is not None
    if phase_defaulted:
        phase_of = (str(default_phase), "")
    if phase_of is None:
        raise PlanImportError(
            "cannot tell which phase this plan belongs to: expected a 'phase:' front-matter "
            "key, a file named NN-MM-PLAN.md or a phases/NN-name/ folder",
            origin=Origin(path, 1),
        )
    phase, phase_slug = phase_of
    named = canonical_plan_id(PurePosixPath(path).name)
    plan_value: Any = front.get("plan", named[1] if named else None)
    numbered_by_position = plan_value is None
    if plan_value is None:
        plan_value = next_plan(phase)
    if not re.fullmatch(NUMBER, str(plan_value).strip()):
        raise PlanImportError(
            f"plan number {plan_value!r} is not a number: expected e.g. 'plan: 03'",
            origin=Origin(path, _front_line(text, "plan")),
        )
    key = plan_key(phase, plan_value)

    wave_value = front.get("wave", 1)
    try:
        wave = int(wave_value)
    except (TypeError, ValueError):
        raise PlanImportError(
            f"wave {wave_value!r} is not a whole number",
            origin=Origin(path, _front_line(text, "wave")),
        ) from None

    masked = mask_code_fences(body)
    sections = _sections(body, masked)
    warnings: list[str] = []
    extra: dict[str, Any] = {
        k: _json_safe(v) for k, v in front.items() if k not in KNOWN_FRONT_MATTER
    }
    if front.get("type") and str(front["type"]) != DEFAULT_PLAN_TYPE:
        extra["plan_type"] = str(front["type"])
    for section in PLAN_SECTIONS[1:]:
        if sections.get(section):
            extra[section] = sections[section]
    if sections.get("context"):
        extra["context_refs"] = re.findall(r"^\s*@(\S+)", sections["context"], re.MULTILINE)

    objective = sections.get("objective", "")
    title = str(front.get("name") or front.get("title") or "").strip()
    title = shorten(title, 300) if title else title_from_text(objective) or f"Plan {key}"

    must_haves = front.get("must_haves") or {}
    if not isinstance(must_haves, dict):
        raise PlanImportError(
            "must_haves must be a mapping with truths, artifacts and key_links",
            origin=Origin(path, _front_line(text, "must_haves")),
        )

    sub = SubFeatureSpec(
        key=key,
        feature=phase,
        name=title,
        objective=objective,
        wave=wave,
        autonomous=_as_bool(front.get("autonomous"), True),
        files_modified=as_list(front.get("files_modified", front.get("files-modified"))),
        must_haves=_json_safe(must_haves),
        extra=extra,
        depends_on=as_list(front.get("depends_on")),
        requirements=as_list(front.get("requirements")),
        origin=Origin(path, 1),
    )
    tasks = parse_tasks(body, masked, path=path, line_offset=body_line - 1, sub=sub)
    # GSD's own verify refuses a plan with checkpoints that claims to run unattended;
    # a person has to act, so the plan is not autonomous, whatever it says.
    checkpoint = any(t.type.startswith("checkpoint:") for t in tasks)
    if checkpoint and sub.autonomous:
        sub.autonomous = False
        warnings.append(
            f"{path}:{_front_line(text, 'autonomous')}: has checkpoint tasks but does not say "
            "'autonomous: false'; imported as not autonomous"
        )
    return ParsedPlan(sub, tasks, phase_slug, numbered_by_position, phase_defaulted, warnings)


def _sections(body: str, masked: str) -> dict[str, str]:
    sections = {}
    tasks_span = find_elements(masked, "tasks")
    for section in PLAN_SECTIONS:
        # The first element outside <tasks> wins (tasks may carry their own <context>).
        for element in find_elements(masked, section):
            if any(t.start < element.start < t.end for t in tasks_span):
                continue
            sections[section] = dedent_block(body[element.inner_start : element.inner_end])
            break
    return sections


def _front_line(text: str, key: str) -> int:
    match = re.search(rf"^{re.escape(key)}\s*:", text, re.MULTILINE)
    return line_of(text, match.start()) if match else 1
