"""ROADMAP.md and REQUIREMENTS.md: phases with their goals and state, requirement IDs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from planning.importers.document import Origin, RequirementSpec
from planning.importers.gsd.names import NUMBER, number_key


@dataclass
class RoadmapPlan:
    name: str
    done: bool
    line: int


@dataclass
class RoadmapPhase:
    """One phase as ROADMAP.md describes it, before any plan file is read."""

    name: str
    goal: str = ""
    done: bool = False
    # "Phase 4+": a later phase without a number yet.
    tentative: bool = False
    # "**Plans**: TBD": the phase is not planned yet.
    plans_tbd: bool = False
    plans: dict[str, RoadmapPlan] = field(default_factory=dict)
    line: int = 1


ROADMAP_PHASE = re.compile(
    rf"Phase\s+(?P<num>{NUMBER})(?P<tentative>\+)?\s*(?:\*\*)?\s*[:.\-\u2013\u2014]\s*"
    r"(?P<name>[^*\n]+?)\s*(?:\*\*|$|\s[-\u2013\u2014]\s)",
    re.I,
)
HEADING_PHASE = re.compile(rf"^#{{2,4}}\s*Phase\s+{NUMBER}\s*:\s*(?P<name>[^\n]+)", re.I)
ROADMAP_GOAL = re.compile(r"^\s*[-*]?\s*\**Goal\**\s*:?\**\s*:?\s*(?P<goal>.+)$", re.I)
CHECKBOX = re.compile(r"^\s*[-*]\s*\[(?P<mark>[ xX])\]")
# `- [x] 01-02: Brief description` or `- [ ] 01-02-PLAN.md — description`.
PLAN_LINE = re.compile(
    rf"^\s*[-*]\s*\[(?P<mark>[ xX])\]\s*\**(?P<phase>{NUMBER})-(?P<plan>{NUMBER})"
    r"(?:-PLAN\.md)?\**\s*(?:[:.\-\u2013\u2014]\s*(?P<name>.*))?$",
    re.I,
)
PLANS_TBD = re.compile(r"^\s*\**Plans\**\s*:?\**\s*:?\s*TBD\b", re.I)
INSERTED = re.compile(r"\s*\(INSERTED\)\s*", re.I)


def parse_roadmap(text: str, *, file: str = "ROADMAP.md") -> dict[str, RoadmapPhase]:
    """Phase number key → the phase, from the first mention of each; a `[x]` box on any
    mention marks it done. Plans listed under a phase are kept with their boxes."""
    phases: dict[str, RoadmapPhase] = {}
    current: RoadmapPhase | None = None
    for number, line in enumerate(text.split("\n"), start=1):
        plan = PLAN_LINE.match(line)
        if plan and current is not None:
            name = (plan["name"] or "").strip().strip("*").strip()
            key = f"{number_key(plan['phase'])}-{number_key(plan['plan'])}"
            current.plans.setdefault(
                key, RoadmapPlan(name=name, done=plan["mark"] in "xX", line=number)
            )
            continue
        match = ROADMAP_PHASE.search(line)
        if match and line.lstrip().startswith(("#", "-", "*", "|", "Phase", "phase", "[")):
            key = number_key(match["num"]) + ("+" if match["tentative"] else "")
            heading = HEADING_PHASE.match(line)
            # A heading's whole rest is the name, as gsd-tools reads it; a list entry's
            # name ends where its description starts (" - ").
            name = heading["name"] if heading else match["name"]
            name = INSERTED.sub(" ", name).strip().strip("*").strip()
            box = CHECKBOX.match(line)
            phase = phases.get(key)
            if phase is None:
                phase = phases[key] = RoadmapPhase(
                    name=name, tentative=bool(match["tentative"]), line=number
                )
            elif heading:
                phase.name = name
            if box and box["mark"] in "xX":
                phase.done = True
            # Details follow a heading, or a list entry the first time a phase shows.
            current = phase if line.lstrip().startswith("#") or not phase.goal else None
            continue
        if line.lstrip().startswith("#"):
            current = None
            continue
        if current is None:
            continue
        goal = ROADMAP_GOAL.match(line)
        if goal and not current.goal:
            current.goal = goal["goal"].strip().strip("*").strip()
        elif PLANS_TBD.match(line):
            current.plans_tbd = True
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
            # The file's order is the requirements' order.
            position=len(found),
            origin=Origin(file, number),
        )
    return list(found.values())
