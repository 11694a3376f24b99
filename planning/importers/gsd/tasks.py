"""The tasks of a GSD plan body: `<task>` elements, the `<feature>` of a TDD plan, or the
older `## Task N: name` headings with `**Files:**`-style labelled fields."""

from __future__ import annotations

import re
from typing import Any

from planning.importers.document import Origin, PlanImportError, SubFeatureSpec, TaskSpec
from planning.importers.text import Element, dedent_block, find_elements, line_of

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
TASK_PREFIX = re.compile(r"^Task\s+\d+\s*[:.\-\u2013\u2014]\s*", re.I)


def parse_tasks(
    body: str, masked: str, *, path: str, line_offset: int, sub: SubFeatureSpec
) -> list[TaskSpec]:
    elements = find_elements(masked, "task")
    if elements:
        return [
            _task(body, masked, element, index, path=path, line_offset=line_offset, sub=sub)
            for index, element in enumerate(elements, start=1)
        ]
    features = find_elements(masked, "feature")
    if features:
        return [
            _feature(body, masked, element, index, path=path, line_offset=line_offset, sub=sub)
            for index, element in enumerate(features, start=1)
        ]
    return _heading_tasks(body, masked, path=path, line_offset=line_offset, sub=sub)


def _spec(sub: SubFeatureSpec, index: int, **fields: Any) -> TaskSpec:
    return TaskSpec(
        key=f"{sub.key}-T{index}",
        feature=sub.feature,
        sub_feature=sub.key,
        wave=sub.wave,
        position=index,
        depends_on=[f"{sub.key}-T{index - 1}"] if index > 1 else [],
        **fields,
    )


def _children(body: str, own: str, element: Element, names: tuple[str, ...]) -> dict[str, str]:
    values = {}
    for name in names:
        found = find_elements(own, name, element.inner_start, element.inner_end)
        if found:
            values[name] = dedent_block(body[found[0].inner_start : found[0].inner_end])
    return values


def _task(
    body: str,
    masked: str,
    element: Element,
    index: int,
    *,
    path: str,
    line_offset: int,
    sub: SubFeatureSpec,
) -> TaskSpec:
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
    values = _children(body, own, element, TASK_FIELDS)
    extra: dict[str, Any] = {k: v for k, v in element.attrs.items() if k != "type"}
    extra.update(_children(body, own, element, TASK_EXTRAS))
    options = _options(body, masked, element)
    if options:
        extra["options"] = options
    if values.get("read_first"):
        extra["read_first"] = split_files(values["read_first"])
    if values.get("acceptance_criteria"):
        extra["acceptance_criteria"] = values["acceptance_criteria"]
    name = values.get("name") or _fallback_name(extra, task_type, index)
    name = TASK_PREFIX.sub("", name).strip() or name
    return _spec(
        sub,
        index,
        name=name[:300],
        description=values.get("action", ""),
        files=split_files(values.get("files", "")),
        verify=values.get("verify", ""),
        done_criteria=values.get("done", ""),
        type=task_type,
        extra=extra,
        origin=Origin(path, line),
    )


def _feature(
    body: str,
    masked: str,
    element: Element,
    index: int,
    *,
    path: str,
    line_offset: int,
    sub: SubFeatureSpec,
) -> TaskSpec:
    """A TDD plan's `<feature>`: one test-first task; its implementation is the action."""
    values = _children(body, masked, element, ("name", "files", "behavior", "implementation"))
    name = TASK_PREFIX.sub("", values.get("name", "")).strip() or sub.name
    return _spec(
        sub,
        index,
        name=name[:300],
        description=values.get("implementation", ""),
        files=split_files(values.get("files", "")),
        type="tdd",
        extra={"behavior": values["behavior"]} if values.get("behavior") else {},
        origin=Origin(path, line_of(body, element.start) + line_offset),
    )


def _options(body: str, masked: str, task: Element) -> list[dict[str, str]]:
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


def split_files(text: str) -> list[str]:
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


def _heading_tasks(
    body: str, masked: str, *, path: str, line_offset: int, sub: SubFeatureSpec
) -> list[TaskSpec]:
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
            _spec(
                sub,
                index,
                name=(heading["name"].strip() or f"Task {heading['num']}")[:300],
                description=text.get("action", ""),
                files=split_files(text.get("files", "")),
                verify=text.get("verify", ""),
                done_criteria=text.get("done", ""),
                type=task_type,
                extra={"acceptance_criteria": text["acceptance"]} if text.get("acceptance") else {},
                origin=Origin(path, line_of(body, heading.start()) + line_offset),
            )
        )
    return tasks
