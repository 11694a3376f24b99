"""How GSD names things: plan and summary files, phase folders, plan keys.

GSD's own tools take any `*-PLAN.md` (or a bare `PLAN.md`) as a plan and read its id
from the first two number tokens of the name: `07-03-REAL-OPERATORS-PLAN.md` is plan
`07-03`. Crewboard keys plans the same way, zero-padded as GSD's file names are.
"""

from __future__ import annotations

import re

NUMBER = r"\d+(?:\.\d+)?"
# `07-03-PLAN.md`, `07-03-real-operators-PLAN.md`: the canonical, numbered plan names.
PLAN_FILE = re.compile(
    rf"^(?P<phase>{NUMBER})-(?P<plan>{NUMBER})(?:-(?P<slug>.+?))?-PLAN\.md$", re.I
)
SUMMARY_FILE = re.compile(
    rf"^(?P<phase>{NUMBER})-(?P<plan>{NUMBER})(?:-(?P<slug>.+?))?-SUMMARY\.md$", re.I
)
PHASE_DIR = re.compile(rf"^(?P<phase>{NUMBER})(?:-(?P<slug>.+))?$")
PLAN_REF = re.compile(rf"^(?P<phase>{NUMBER})-(?P<plan>{NUMBER})(?:-.*)?$")

DEFAULT_PLAN_TYPE = "execute"
# Requirements a plan cites without a REQUIREMENTS.md entry; exports leave them to the plans.
FRONT_MATTER_SOURCE = "plan front matter"
# Files of a `.planning/` folder that are never plans, whatever they hold.
NOT_PLANS = {
    "ROADMAP.MD",
    "REQUIREMENTS.MD",
    "PROJECT.MD",
    "STATE.MD",
    "MILESTONES.MD",
    "RETROSPECTIVE.MD",
}
# A plan body's first task or feature element, at the start of a line.
_PLAN_ELEMENT = re.compile(r"^[ \t]*<(?:task[\s>]|tasks>|feature>)", re.M | re.I)
# `phase:` among the front matter's lines, before its closing `---`.
_FRONT_MATTER_PHASE = re.compile(r"\A\ufeff?---[ \t]*\n(?:(?!---)[^\n]*\n)*?phase[ \t]*:", re.I)


def is_plan_name(name: str) -> bool:
    """A file GSD's tools read as a plan: `*-PLAN.md` or `PLAN.md`."""
    upper = name.upper()
    return upper.endswith("-PLAN.MD") or upper == "PLAN.MD"


def is_summary_name(name: str) -> bool:
    upper = name.upper()
    return upper.endswith("-SUMMARY.MD") or upper == "SUMMARY.MD"


def looks_like_plan(name: str, text: str) -> bool:
    """A plan by its name, or a Markdown file shaped like one: front matter naming a
    phase, or `<task>`, `<tasks>` or `<feature>` elements at the start of a line."""
    if is_plan_name(name):
        return True
    upper = name.upper()
    if not upper.endswith(".MD") or upper in NOT_PLANS or is_summary_name(name):
        return False
    return bool(_FRONT_MATTER_PHASE.match(text) or _PLAN_ELEMENT.search(text))


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


def canonical_plan_id(name: str) -> tuple[str, str] | None:
    """(phase, plan) from the first two number tokens of a file name, as GSD reads it."""
    base = re.sub(r"-?(?:PLAN|SUMMARY)\.md$", "", name, flags=re.I)
    base = re.sub(r"\.md$", "", base, flags=re.I)
    parts = [p for p in base.split("-") if p]
    for index, part in enumerate(parts[:-1]):
        if re.fullmatch(NUMBER, part):
            following = parts[index + 1]
            return (part, following) if re.fullmatch(NUMBER, following) else None
    return None


def title_from_slug(slug: str) -> str:
    return slug.replace("-", " ").replace("_", " ").strip().capitalize()


def sortable(key: str) -> tuple[float, str]:
    try:
        return float(key.rstrip("+")), key
    except ValueError:
        return float("inf"), key


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
