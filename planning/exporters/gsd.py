"""Export a plan as a GSD `.planning/` folder (zipped), laid out the way GSD expects."""

from __future__ import annotations

import io
import re
import zipfile
from collections import defaultdict
from typing import Any

import yaml

from planning.exporters.gsd_shape import gsd_shaped
from planning.importers.document import PlanDocument, RequirementSpec, TaskSpec
from planning.importers.gsd import DEFAULT_PLAN_TYPE, FRONT_MATTER_SOURCE, TASK_EXTRAS

# `extra` keys the importer fills from the plan body rather than the front matter.
BODY_EXTRAS = {
    "plan_type",
    "execution_context",
    "context",
    "context_refs",
    "verification",
    "success_criteria",
    "output",
    "external_depends_on",
    "dependency_notes",
}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "phase"


def _plan_number(sub_key: str, feature_key: str) -> str:
    prefix = f"{feature_key}-"
    return sub_key[len(prefix) :] if sub_key.startswith(prefix) else sub_key.rsplit("-", 1)[-1]


def _yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000).strip()


def _element(name: str, text: str, indent: str = "") -> list[str]:
    if not text.strip():
        return []
    if "\n" not in text:
        return [f"{indent}<{name}>{text}</{name}>"]
    return [f"{indent}<{name}>", text, f"{indent}</{name}>"]


def render_plan(document: PlanDocument, sub_key: str) -> str:
    """One plan file that `gsd-tools verify plan-structure` and `frontmatter validate
    --schema plan` accept: every required front-matter key (must_haves too, empty when
    the plan has none), `autonomous: false` when a task is a checkpoint, and an
    `<action>` in every task."""
    sub = next(s for s in document.sub_features if s.key == sub_key)
    feature = next(f for f in document.features if f.key == sub.feature)
    tasks = sorted(
        (t for t in document.tasks if t.sub_feature == sub.key), key=lambda t: (t.position, t.key)
    )
    has_checkpoint = any(t.type.startswith("checkpoint:") for t in tasks)
    front: dict[str, Any] = {
        "phase": f"{feature.key}-{_slug(feature.name)}",
        "plan": _plan_number(sub.key, feature.key),
        "name": sub.name,
        "type": sub.extra.get("plan_type", DEFAULT_PLAN_TYPE),
        "wave": sub.wave,
        "depends_on": [
            *sub.depends_on,
            *sub.extra.get("external_depends_on", []),
            *sub.extra.get("dependency_notes", []),
        ],
        "files_modified": sub.files_modified,
        "autonomous": sub.autonomous and not has_checkpoint,
    }
    if sub.requirements:
        front["requirements"] = sub.requirements
    front["must_haves"] = sub.must_haves
    front.update({k: v for k, v in sub.extra.items() if k not in BODY_EXTRAS})
    lines = ["---", _yaml(front), "---", ""]
    for section in ("objective", "execution_context", "context"):
        value = sub.objective if section == "objective" else sub.extra.get(section, "")
        if value:
            lines += [*_element(section, value), ""]
    lines += ["<tasks>", ""]
    for number, task in enumerate(tasks, start=1):
        lines += [*_render_task(task, number), ""]
    lines += ["</tasks>", ""]
    for section in ("verification", "success_criteria", "output"):
        if sub.extra.get(section):
            lines += [*_element(section, sub.extra[section]), ""]
    return "\n".join(lines).rstrip() + "\n"


def _render_task(task: TaskSpec, number: int) -> list[str]:
    attrs = "".join(
        f' {k}="{v}"' for k, v in task.extra.items() if isinstance(v, str) and k not in _TASK_TEXT
    )
    lines = [f'<task type="{task.type}"{attrs}>']
    lines += _element("name", f"Task {number}: {task.name}", "  ")
    lines += _element("files", ", ".join(task.files), "  ")
    if task.extra.get("read_first"):
        lines += _element("read_first", ", ".join(task.extra["read_first"]), "  ")
    for name in TASK_EXTRAS:
        if task.extra.get(name):
            lines += _element(name, task.extra[name], "  ")
    if task.extra.get("options"):
        lines.append("  <options>")
        for option in task.extra["options"]:
            lines.append(f'    <option id="{option.get("id", "")}">')
            for key in ("name", "pros", "cons", "description"):
                if option.get(key):
                    value = option[key]
                    text = "\n".join(value) if isinstance(value, list) else value
                    lines += _element(key, text, "      ")
            lines.append("    </option>")
        lines.append("  </options>")
    # GSD's verify refuses a task without <action>; an empty one reads back as empty.
    lines += _element("action", task.description, "  ") or ["  <action></action>"]
    lines += _element("verify", task.verify, "  ")
    lines += _element("acceptance_criteria", task.extra.get("acceptance_criteria", ""), "  ")
    lines += _element("done", task.done_criteria, "  ")
    lines.append("</task>")
    return lines


_TASK_TEXT = {*TASK_EXTRAS, "read_first", "acceptance_criteria", "options"}


def render_roadmap(document: PlanDocument, *, title: str) -> str:
    """GSD's ROADMAP.md: a checklist of phases (`[x]` when every task is done), then a
    section per phase with its goal and plans. A tentative phase (`4+`) has no number of
    its own, so, as in GSD, it is only on the checklist."""
    subs = defaultdict(list)
    for sub in document.sub_features:
        subs[sub.feature].append(sub)
    features = sorted(document.features, key=lambda f: (f.position, f.key))
    lines = [f"# Roadmap: {title}", "", "## Phases", ""]
    for feature in features:
        tasks = [t for t in document.tasks if t.feature == feature.key]
        done = "x" if tasks and all(t.status == "done" for t in tasks) else " "
        lines.append(f"- [{done}] **Phase {feature.key}: {feature.name}**")
    lines += ["", "## Phase Details", ""]
    for feature in features:
        if feature.key.endswith("+"):
            continue
        lines.append(f"### Phase {feature.key}: {feature.name}")
        if feature.description:
            lines.append(f"**Goal**: {feature.description}")
        plans = sorted(subs[feature.key], key=lambda s: s.key)
        lines.append(f"**Plans**: {len(plans)} plans" if plans else "**Plans**: TBD")
        if plans:
            lines += ["", "Plans:"]
            lines += [f"- [{_mark(document, s.key)}] {s.key}-PLAN.md — {s.name}" for s in plans]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _mark(document: PlanDocument, sub_key: str) -> str:
    tasks = [t for t in document.tasks if t.sub_feature == sub_key]
    return "x" if tasks and all(t.status == "done" for t in tasks) else " "


def render_requirements(document: PlanDocument, *, title: str) -> str:
    lines = [f"# Requirements: {title}", ""]
    by_category: dict[str, list[RequirementSpec]] = defaultdict(list)
    for req in document.requirements:
        if req.source != FRONT_MATTER_SOURCE:
            by_category[req.category].append(req)
    for reqs in by_category.values():
        reqs.sort(key=lambda r: (r.position, r.code))
    # Uncategorised first: a heading would otherwise become their category on re-import.
    # Then each category where its first requirement stands, so that re-importing the
    # file (which numbers requirements in file order) keeps their order as far as the
    # grouping by category allows.
    for category in sorted(by_category, key=lambda c: (c != "", by_category[c][0].position, c)):
        if category:
            lines += [f"### {category}", ""]
        for req in by_category[category]:
            mark = "x" if req.validated else " "
            lines.append(f"- [{mark}] **{req.code}**: {req.description}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def export_gsd_zip(document: PlanDocument, *, title: str) -> bytes:
    """A zip holding `.planning/ROADMAP.md`, `REQUIREMENTS.md` and `phases/NN-slug/NN-MM-PLAN.md`
    files, plus `NN-MM-SUMMARY.md` for plans whose tasks are all done."""
    document = gsd_shaped(document)
    buffer = io.BytesIO()
    features = {f.key: f for f in document.features}
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(".planning/ROADMAP.md", render_roadmap(document, title=title))
        if any(r.source != FRONT_MATTER_SOURCE for r in document.requirements):
            archive.writestr(
                ".planning/REQUIREMENTS.md", render_requirements(document, title=title)
            )
        for sub in sorted(document.sub_features, key=lambda s: s.key):
            feature = features[sub.feature]
            folder = f".planning/phases/{feature.key}-{_slug(feature.name)}"
            archive.writestr(f"{folder}/{sub.key}-PLAN.md", render_plan(document, sub.key))
            tasks = [t for t in document.tasks if t.sub_feature == sub.key]
            if tasks and all(t.status == "done" for t in tasks):
                archive.writestr(
                    f"{folder}/{sub.key}-SUMMARY.md",
                    f"# {sub.key} summary\n\nAll {len(tasks)} tasks done.\n",
                )
    return buffer.getvalue()
