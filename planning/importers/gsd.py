"""GSD (`get-shit-done`) `.planning/` folders: ROADMAP.md, REQUIREMENTS.md and phase plans.

A phase (`phases/NN-name/`) becomes a feature, each `NN-MM-PLAN.md` a sub-feature and
each `<task>` a task keyed `NN-MM-T<n>`. Plan bodies look like XML but are not: they hold
code, `<` signs and Markdown, so tags are found by scanning outside code fences.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

import yaml

from planning.importers.document import (
    FeatureSpec,
    Origin,
    PlanDocument,
    PlanImportError,
    RequirementSpec,
    SubFeatureSpec,
    TaskSpec,
)
from planning.importers.text import dedent_block, find_elements, line_of, mask_code_fences

PLAN_FILE = re.compile(r"^(?P<phase>\d+(?:\.\d+)?)-(?P<plan>\d+(?:\.\d+)?)-PLAN\.md$", re.I)
SUMMARY_FILE = re.compile(r"^(?P<phase>\d+(?:\.\d+)?)-(?P<plan>\d+(?:\.\d+)?)-SUMMARY\.md$", re.I)
PHASE_DIR = re.compile(r"^(?P<phase>\d+(?:\.\d+)?)(?:-(?P<slug>.+))?$")
PLAN_REF = re.compile(r"^(?P<phase>\d+(?:\.\d+)?)-(?P<plan>\d+(?:\.\d+)?)(?:-.*)?$")

DEFAULT_PLAN_TYPE = "execute"
# Requirements a plan cites without a REQUIREMENTS.md entry; exports leave them to the plans.
FRONT_MATTER_SOURCE = "plan front matter"
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
TASK_FIELDS = ("name", "files", "read_first", "action", "verify", "acceptance_criteria", "done")
TASK_TYPES = {
    "auto": "auto",
    "tdd": "tdd",
    "checkpoint:human-verify": "checkpoint:human-verify",
    "checkpoint:decision": "checkpoint:decision",
    "checkpoint:human-action": "checkpoint:human-action",
}
# Extra child elements some GSD task types carry, kept in the task's `extra`.
TASK_EXTRAS = (
    "what-built",
    "how-to-verify",
    "resume-signal",
    "decision",
    "context",
    "behavior",
    "implementation",
    "instructions",
)


def number_key(value: str | int | float) -> str:
    """`1` → `01`, `2.1` → `02.1`, `01` → `01`: the zero-padded form GSD file names use."""
    text = str(value).strip()
    whole, _, fraction = text.partition(".")
    if not whole.isdigit():
        return text
    key = f"{int(whole):02d}"
    return f"{key}.{fraction}" if fraction else key


def plan_key(phase: str | int | float, plan: str | int | float) -> str:
    return f"{number_key(phase)}-{number_key(plan)}"


def title_from_slug(slug: str) -> str:
    return slug.replace("-", " ").replace("_", " ").strip().capitalize()


def parse_planning_folder(files: Mapping[str, str], *, source: str = "") -> PlanDocument:
    """Parse a `.planning/` tree given as {relative posix path: text}.

    Raises PlanImportError naming the file and line of the first problem.
    """
    plans = {p: t for p, t in files.items() if PLAN_FILE.match(PurePosixPath(p).name)}
    if not plans:
        raise PlanImportError(
            "no plan files found: expected phases/NN-name/NN-MM-PLAN.md files",
            origin=Origin(source or "."),
        )
    roadmap = _find(files, "ROADMAP.md")
    phases = parse_roadmap(roadmap[1], file=roadmap[0]) if roadmap else {}
    requirements_file = _find(files, "REQUIREMENTS.md")
    requirements = (
        parse_requirements(requirements_file[1], file=requirements_file[0])
        if requirements_file
        else []
    )
    summaries = {
        plan_key(m["phase"], m["plan"])
        for p in files
        if (m := SUMMARY_FILE.match(PurePosixPath(p).name))
    }

    document = PlanDocument(requirements=requirements, source=source)
    features: dict[str, FeatureSpec] = {}
    parsed = [parse_plan_file(text, path=path) for path, text in sorted(plans.items())]
    for sub, tasks in parsed:
        feature_key = sub.feature
        if feature_key not in features:
            dir_slug = sub.extra.pop("_phase_slug", "")
            name, description = phases.get(feature_key, ("", ""))
            features[feature_key] = FeatureSpec(
                key=feature_key,
                name=name or title_from_slug(dir_slug) or f"Phase {feature_key}",
                description=description,
                origin=sub.origin,
            )
        else:
            sub.extra.pop("_phase_slug", None)
        if sub.key in summaries:
            for task in tasks:
                task.status = "done"
        document.sub_features.append(sub)
        document.tasks.extend(tasks)
    for key, (name, description) in phases.items():
        features.setdefault(
            key,
            FeatureSpec(
                key=key,
                name=name,
                description=description,
                origin=Origin(roadmap[0]) if roadmap else None,
            ),
        )
    document.features = sorted(features.values(), key=lambda f: _sortable(f.key))
    for position, feature in enumerate(document.features):
        feature.position = position
    _resolve_plan_dependencies(document)
    known_codes = {r.code for r in document.requirements}
    for sub in document.sub_features:
        for code in sub.requirements:
            if code not in known_codes:
                # A plan may cite requirements the folder has no REQUIREMENTS.md entry for.
                document.requirements.append(
                    RequirementSpec(
                        code=code, description=code, source="plan front matter", origin=sub.origin
                    )
                )
                known_codes.add(code)
    feature_of_code: dict[str, set[str]] = {}
    for sub in document.sub_features:
        for code in sub.requirements:
            feature_of_code.setdefault(code, set()).add(sub.feature)
    for req in document.requirements:
        req.features = sorted(feature_of_code.get(req.code, set()))
    document.validate()
    return document


def _sortable(key: str) -> tuple[float, str]:
    try:
        return float(key), key
    except ValueError:
        return float("inf"), key


def _find(files: Mapping[str, str], name: str) -> tuple[str, str] | None:
    candidates = sorted(
        (p for p in files if PurePosixPath(p).name.upper() == name.upper()),
        key=lambda p: p.count("/"),
    )
    return (candidates[0], files[candidates[0]]) if candidates else None


# ROADMAP.md and REQUIREMENTS.md ------------------------------------------------------

ROADMAP_PHASE = re.compile(
    r"Phase\s+(?P<num>\d+(?:\.\d+)?)\s*(?:\*\*)?\s*[:.\-\u2013\u2014]\s*(?P<name>[^*\n]+?)\s*(?:\*\*|$|\s[-\u2013\u2014]\s)",
    re.I,
)
ROADMAP_GOAL = re.compile(r"^\s*[-*]?\s*\**Goal\**\s*:?\**\s*:?\s*(?P<goal>.+)$", re.I)


def parse_roadmap(text: str, *, file: str = "ROADMAP.md") -> dict[str, tuple[str, str]]:
    """Phase number key → (name, goal) from the first mention of each phase."""
    phases: dict[str, tuple[str, str]] = {}
    current: str | None = None
    for line in text.split("\n"):
        match = ROADMAP_PHASE.search(line)
        if match and line.lstrip().startswith(("#", "-", "*", "|", "Phase", "phase", "[")):
            key = number_key(match["num"])
            name = match["name"].strip().strip("*").strip()
            if key not in phases:
                phases[key] = (name, "")
                current = key
            else:
                current = key if not phases[key][1] else None
            continue
        goal = ROADMAP_GOAL.match(line)
        if goal and current and not phases[current][1]:
            phases[current] = (phases[current][0], goal["goal"].strip().strip("*").strip())
    return phases


REQUIREMENT_LINE = re.compile(
    r"^\s*(?:[-*+]\s*)?(?:\[[ xX]\]\s*)?\**\s*"
    r"(?P<code>[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-\d+)"
    r"\s*\**\s*[:.\-\u2013\u2014|]\s*\**\s*(?P<text>.+)$"
)
TABLE_REQUIREMENT = re.compile(
    r"^\s*\|\s*\**(?P<code>[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-\d+)\**\s*\|(?P<rest>.+)$"
)


def parse_requirements(text: str, *, file: str = "REQUIREMENTS.md") -> list[RequirementSpec]:
    """Requirement IDs (`DATA-01`) with their text and the heading they sit under."""
    found: dict[str, RequirementSpec] = {}
    category = ""
    for number, line in enumerate(text.split("\n"), start=1):
        heading = re.match(r"^#{2,6}\s+(.+?)\s*#*$", line)
        if heading:
            category = heading.group(1).strip()
            continue
        match = REQUIREMENT_LINE.match(line)
        description = ""
        if match:
            code, description = match["code"], match["text"]
        elif table := TABLE_REQUIREMENT.match(line):
            code = table["code"]
            cells = [c.strip() for c in table["rest"].split("|") if c.strip()]
            description = cells[0] if cells else code
        else:
            continue
        if code in found:
            continue  # traceability tables repeat IDs; the first mention defines them
        found[code] = RequirementSpec(
            code=code,
            description=description.strip().strip("*").strip() or code,
            category=category[:100],
            source=PurePosixPath(file).name,
            validated="[x]" in line.lower()[:12],
            origin=Origin(file, number),
        )
    return list(found.values())


# Plan files ----------------------------------------------------------------------------


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
        data = yaml.safe_load(raw) or {}
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


def _as_list(value: Any) -> list[str]:
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


def parse_plan_file(text: str, *, path: str) -> tuple[SubFeatureSpec, list[TaskSpec]]:
    """One `NN-MM-PLAN.md`: the plan as a sub-feature plus its tasks in order."""
    name = PurePosixPath(path).name
    file_match = PLAN_FILE.match(name)
    front, body, body_line = split_front_matter(text, path=path)
    phase_dir = PurePosixPath(path).parent.name
    dir_match = PHASE_DIR.match(phase_dir)

    phase_value = front.get("phase")
    phase_match = PHASE_DIR.match(str(phase_value)) if phase_value is not None else None
    if phase_match:
        phase = number_key(phase_match["phase"])
        phase_slug = phase_match["slug"] or (dir_match["slug"] if dir_match else "") or ""
    elif file_match:
        phase = number_key(file_match["phase"])
        phase_slug = (dir_match["slug"] if dir_match else "") or ""
    else:
        raise PlanImportError(
            "cannot tell which phase this plan belongs to: expected a 'phase:' front-matter "
            "key or a file named NN-MM-PLAN.md",
            origin=Origin(path, 1),
        )
    plan_value = front.get("plan", file_match["plan"] if file_match else None)
    if plan_value is None or not re.fullmatch(r"\d+(?:\.\d+)?", str(plan_value).strip()):
        raise PlanImportError(
            f"plan number {plan_value!r} is not a number: expected e.g. 'plan: 03'",
            origin=Origin(path, _front_line(text, "plan")),
        )
    key = plan_key(phase, plan_value)
    origin = Origin(path, 1)

    wave_value = front.get("wave", 1)
    try:
        wave = int(wave_value)
    except (TypeError, ValueError):
        raise PlanImportError(
            f"wave {wave_value!r} is not a whole number",
            origin=Origin(path, _front_line(text, "wave")),
        ) from None

    masked = mask_code_fences(body)
    sections = {}
    for section in PLAN_SECTIONS:
        # The first element outside <tasks> wins (tasks may carry their own <context>).
        tasks_span = find_elements(masked, "tasks")
        for element in find_elements(masked, section):
            if any(t.start < element.start < t.end for t in tasks_span):
                continue
            sections[section] = dedent_block(body[element.inner_start : element.inner_end])
            break

    extra: dict[str, Any] = {
        k: _json_safe(v) for k, v in front.items() if k not in KNOWN_FRONT_MATTER
    }
    if front.get("type") and str(front["type"]) != DEFAULT_PLAN_TYPE:
        extra["plan_type"] = str(front["type"])
    for section in ("execution_context", "context", "verification", "success_criteria", "output"):
        if sections.get(section):
            extra[section] = sections[section]
    if sections.get("context"):
        extra["context_refs"] = re.findall(r"^\s*@(\S+)", sections["context"], re.MULTILINE)
    extra["_phase_slug"] = phase_slug

    objective = sections.get("objective", "")
    title = str(front.get("name") or front.get("title") or "").strip()
    if not title:
        first_line = objective.split("\n", 1)[0].strip() if objective else ""
        title = first_line or f"Plan {key}"

    must_haves = front.get("must_haves") or {}
    if not isinstance(must_haves, dict):
        raise PlanImportError(
            "must_haves must be a mapping with truths, artifacts and key_links",
            origin=Origin(path, _front_line(text, "must_haves")),
        )

    sub = SubFeatureSpec(
        key=key,
        feature=phase,
        name=title[:300],
        objective=objective,
        wave=wave,
        autonomous=_as_bool(front.get("autonomous"), True),
        files_modified=_as_list(front.get("files_modified", front.get("files-modified"))),
        must_haves=_json_safe(must_haves),
        extra=extra,
        depends_on=_as_list(front.get("depends_on")),
        requirements=_as_list(front.get("requirements")),
        origin=origin,
    )
    tasks = _parse_tasks(body, masked, path=path, line_offset=body_line - 1, sub=sub)
    return sub, tasks


def _front_line(text: str, key: str) -> int:
    match = re.search(rf"^{re.escape(key)}\s*:", text, re.MULTILINE)
    return line_of(text, match.start()) if match else 1


def _parse_tasks(
    body: str, masked: str, *, path: str, line_offset: int, sub: SubFeatureSpec
) -> list[TaskSpec]:
    elements = find_elements(masked, "task")
    if not elements:
        return _parse_heading_tasks(body, masked, path=path, line_offset=line_offset, sub=sub)
    tasks = []
    for index, element in enumerate(elements, start=1):
        line = line_of(body, element.start) + line_offset
        raw_type = (element.attrs.get("type") or "auto").strip().lower()
        task_type = TASK_TYPES.get(raw_type)
        if task_type is None:
            raise PlanImportError(
                f"unknown task type {raw_type!r}: expected one of {', '.join(TASK_TYPES)}",
                origin=Origin(path, line),
            )
        # Option blocks have <name> children of their own; hide them from the field search.
        own = masked
        for block in find_elements(masked, "options", element.inner_start, element.inner_end):
            own = own[: block.start] + " " * (block.end - block.start) + own[block.end :]
        values = {}
        for name in TASK_FIELDS:
            found = find_elements(own, name, element.inner_start, element.inner_end)
            if found:
                values[name] = dedent_block(body[found[0].inner_start : found[0].inner_end])
        extra: dict[str, Any] = {k: v for k, v in element.attrs.items() if k != "type"}
        for name in TASK_EXTRAS:
            found = find_elements(own, name, element.inner_start, element.inner_end)
            if found:
                extra[name] = dedent_block(body[found[0].inner_start : found[0].inner_end])
        options = _parse_options(body, masked, element)
        if options:
            extra["options"] = options
        if values.get("read_first"):
            extra["read_first"] = _split_files(values["read_first"])
        if values.get("acceptance_criteria"):
            extra["acceptance_criteria"] = values["acceptance_criteria"]
        name = values.get("name") or _fallback_name(extra, task_type, index)
        name = re.sub(r"^Task\s+\d+\s*[:.\-\u2013\u2014]\s*", "", name).strip() or name
        tasks.append(
            TaskSpec(
                key=f"{sub.key}-T{index}",
                name=name[:300],
                feature=sub.feature,
                sub_feature=sub.key,
                description=values.get("action", ""),
                files=_split_files(values.get("files", "")),
                verify=values.get("verify", ""),
                done_criteria=values.get("done", ""),
                type=task_type,
                wave=sub.wave,
                position=index,
                extra=extra,
                depends_on=[f"{sub.key}-T{index - 1}"] if index > 1 else [],
                origin=Origin(path, line),
            )
        )
    return tasks


def _parse_options(body: str, masked: str, task: Any) -> list[dict[str, str]]:
    options = []
    for option in find_elements(masked, "option", task.inner_start, task.inner_end):
        entry = {"id": option.attrs.get("id", "")}
        inner = body[option.inner_start : option.inner_end]
        inner_masked = masked[option.inner_start : option.inner_end]
        for name in ("name", "pros", "cons", "description"):
            found = find_elements(inner_masked, name)
            if found:
                entry[name] = dedent_block(inner[found[0].inner_start : found[0].inner_end])
        if len(entry) == 1:
            entry["name"] = dedent_block(inner)
        options.append(entry)
    return options


def _fallback_name(extra: dict[str, Any], task_type: str, index: int) -> str:
    for key in ("decision", "what-built", "instructions"):
        if extra.get(key):
            return str(extra[key]).split("\n", 1)[0][:200]
    return f"{task_type} task {index}"


def _split_files(text: str) -> list[str]:
    items = []
    for part in re.split(r"[\n,]", text):
        part = part.strip().lstrip("-*").strip().strip("`").strip()
        if part:
            items.append(part)
    return items


HEADING_TASK = re.compile(
    r"^#{2,4}\s+Task\s+(?P<num>\d+)\s*[:.\-\u2013\u2014]?\s*(?P<name>.*)$", re.I | re.M
)
LABELLED_FIELD = re.compile(
    r"^\s*[-*]?\s*\**(?P<label>Files|Action|Verify|Done|Type|Acceptance criteria)\**"
    r"\s*:\**\s*(?P<value>.*)$",
    re.I,
)


def _parse_heading_tasks(
    body: str, masked: str, *, path: str, line_offset: int, sub: SubFeatureSpec
) -> list[TaskSpec]:
    """The older `## Task N: name` style, with `**Files:**`-style labelled fields."""
    headings = list(HEADING_TASK.finditer(masked))
    tasks = []
    for index, heading in enumerate(headings, start=1):
        end = headings[index].start() if index < len(headings) else len(body)
        next_section = re.search(r"^#{1,2}\s+(?!Task\b)", masked[heading.end() : end], re.M | re.I)
        if next_section:
            end = heading.end() + next_section.start()
        chunk = body[heading.end() : end]
        fields: dict[str, list[str]] = {"action": []}
        current = "action"
        for line in chunk.split("\n"):
            label = LABELLED_FIELD.match(line)
            if label:
                current = label["label"].lower().split()[0]
                fields.setdefault(current, [])
                if label["value"].strip():
                    fields[current].append(label["value"].strip())
            else:
                fields.setdefault(current, []).append(line)
        text = {k: dedent_block("\n".join(v)) for k, v in fields.items()}
        task_type = TASK_TYPES.get(text.get("type", "auto").strip().lower().strip("`"), "auto")
        tasks.append(
            TaskSpec(
                key=f"{sub.key}-T{index}",
                name=(heading["name"].strip() or f"Task {heading['num']}")[:300],
                feature=sub.feature,
                sub_feature=sub.key,
                description=text.get("action", ""),
                files=_split_files(text.get("files", "")),
                verify=text.get("verify", ""),
                done_criteria=text.get("done", ""),
                type=task_type,
                wave=sub.wave,
                position=index,
                extra={"acceptance_criteria": text["acceptance"]} if text.get("acceptance") else {},
                depends_on=[f"{sub.key}-T{index - 1}"] if index > 1 else [],
                origin=Origin(path, line_of(body, heading.start()) + line_offset),
            )
        )
    return tasks


def _resolve_plan_dependencies(document: PlanDocument) -> None:
    """Turn `depends_on` entries ("01-04", "1-4", "01-04-auth-setup", a plan's slugged
    name) into sub-feature keys; references to plans outside the import become warnings."""
    keys = {s.key for s in document.sub_features}
    by_slug: dict[str, str] = {}
    for sub in document.sub_features:
        for alias in (sub.name, sub.extra.get("name", ""), sub.extra.get("slug", "")):
            if alias:
                by_slug[_slug(str(alias))] = sub.key
    for sub in document.sub_features:
        resolved = []
        for ref in sub.depends_on:
            key = None
            match = PLAN_REF.match(ref.strip())
            if match and plan_key(match["phase"], match["plan"]) in keys:
                key = plan_key(match["phase"], match["plan"])
            elif _slug(ref) in by_slug:
                key = by_slug[_slug(ref)]
            if key is None:
                # Often a plan outside this folder (a partial export, a lone plan file):
                # kept so an export writes it back, reported, but not linked.
                sub.extra.setdefault("external_depends_on", []).append(ref)
                document.warnings.append(
                    f"{sub.origin}: depends_on names {ref!r}, which is not a plan in this "
                    "import; kept as an external dependency"
                )
                continue
            if key not in resolved:
                resolved.append(key)
        sub.depends_on = resolved


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
