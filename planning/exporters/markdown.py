"""A readable Markdown rendering of a plan."""

from __future__ import annotations

from collections import defaultdict

from core.text import natural_sort_key
from planning.importers.document import PlanDocument, TaskSpec


def _block(text: str, indent: str = "") -> list[str]:
    return [f"{indent}{line}".rstrip() for line in text.strip().split("\n")] if text.strip() else []


def render_markdown(document: PlanDocument, *, title: str = "Development plan") -> str:
    return titled_markdown(title, render_markdown_body(document))


def titled_markdown(title: str, body: str) -> str:
    """A rendering whose body render_markdown_body gave, under `title`."""
    return f"# {title}\n\n{body}"


def render_markdown_body(document: PlanDocument) -> str:
    """The rendering below its title line (which a version numbers only later)."""
    lines: list[str] = []
    counts = (
        f"{len(document.features)} features, {len(document.sub_features)} plans, "
        f"{len(document.tasks)} tasks"
    )
    lines += [counts, ""]
    if document.requirements:
        lines += ["## Requirements", ""]
        for req in sorted(document.requirements, key=lambda r: (r.position, r.code)):
            links = f" (features: {', '.join(req.features)})" if req.features else ""
            done = "x" if req.validated else " "
            lines.append(
                f"- [{done}] **{req.code or '—'}** [{req.priority}] {req.description}{links}"
            )
        lines.append("")

    subs_by_feature = defaultdict(list)
    for sub in sorted(document.sub_features, key=lambda s: (s.position, s.key)):
        subs_by_feature[sub.feature].append(sub)
    tasks_by_sub: dict[str | None, list[TaskSpec]] = defaultdict(list)
    loose_by_feature: dict[str | None, list[TaskSpec]] = defaultdict(list)
    for task in sorted(document.tasks, key=lambda t: (t.position, t.key)):
        if task.sub_feature:
            tasks_by_sub[task.sub_feature].append(task)
        else:
            loose_by_feature[task.feature].append(task)

    for feature in sorted(document.features, key=lambda f: (f.position, f.key)):
        lines += [f"## {feature.key} · {feature.name}", ""]
        lines += _block(feature.description)
        if feature.description.strip():
            lines.append("")
        for sub in subs_by_feature[feature.key]:
            facts = [f"wave {sub.wave}"]
            if sub.depends_on:
                facts.append("after " + ", ".join(sub.depends_on))
            if not sub.autonomous:
                facts.append("needs a person")
            lines += [f"### {sub.key} · {sub.name}", "", f"_{'; '.join(facts)}_", ""]
            lines += _block(sub.objective)
            if sub.objective.strip():
                lines.append("")
            if sub.files_modified:
                lines += ["Files: " + ", ".join(f"`{f}`" for f in sub.files_modified), ""]
            for truth in (
                sub.must_haves.get("truths", []) if isinstance(sub.must_haves, dict) else []
            ):
                lines.append(f"- must: {truth}")
            lines += _render_tasks(tasks_by_sub[sub.key])
        lines += _render_tasks(loose_by_feature[feature.key])
    if loose_by_feature[None]:
        lines += ["## Unassigned tasks", ""]
        lines += _render_tasks(loose_by_feature[None])
    return "\n".join(lines).rstrip() + "\n"


def _field(label: str, text: str, *, code: bool = False) -> list[str]:
    """A task's field under its list item: inline when one line, else the whole text
    indented beneath it (commands in a fenced block), so no line is lost."""
    text = text.strip()
    if not text:
        return []
    if "\n" not in text:
        return [f"  - {label}: {text}"]
    fence = "~~~" if "```" in text else "```"
    body = [f"    {line}".rstrip() for line in text.split("\n")]
    if code:
        return [f"  - {label}:", "", f"    {fence}", *body, f"    {fence}", ""]
    return [f"  - {label}:", "", *body, ""]


def _render_tasks(tasks: list[TaskSpec]) -> list[str]:
    if not tasks:
        return []
    lines = [""]
    for task in tasks:
        status = f" — {task.status}" if task.status else ""
        lines.append(
            f"- **{task.key}** {task.name} `{task.type}` · {task.priority} · {task.size}{status}"
        )
        if task.depends_on:
            # In key order: a plan read back from its rows lists them in no set order.
            depends_on = sorted(task.depends_on, key=natural_sort_key)
            lines.append(f"  - depends on: {', '.join(depends_on)}")
        for note in task.extra.get("dependency_notes", []):
            lines.append(f"  - after (not linked): {note}")
        if task.files:
            lines.append("  - files: " + ", ".join(f"`{f}`" for f in task.files))
        lines += _field("action", task.description)
        lines += _field("verify", task.verify, code=True)
        lines += _field("done when", task.done_criteria)
    lines.append("")
    return lines
