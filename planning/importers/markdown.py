"""Plain Markdown PRDs: headings become features, list items become tasks, `- [x]`
items come in done, and "depends on X" / "after X" phrases become dependencies ("after X
and after Y" names two).

Also used by the offline plan generator, so generated and imported plans follow the
same rules.

Linear in the file's size: each item's position and each reference's target are looked
up, never found by going over the items before it.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field

from planning.importers.document import (
    FeatureSpec,
    Origin,
    PlanDocument,
    PlanImportError,
    TaskSpec,
)
from planning.importers.text import mask_code_fences

HEADING = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<title>.+?)\s*#*\s*$")
LIST_ITEM = re.compile(
    r"^(?P<indent>[ \t]*)(?:[-*+]|\d+[.)])\s+(?:\[(?P<check>[ xX])\]\s+)?(?P<text>.+)$"
)
DEPENDENCY_WORDS = r"(?:depends\s+on|after|requires|blocked\s+by)\s*:?\s+"
# The phrase may hold one level of parentheses of its own: "(after Phase 16 (2026-04-25))".
DEPENDENCY = re.compile(
    rf"[(\[]?\s*{DEPENDENCY_WORDS}"
    r"(?P<refs>(?:[^()\[\]\n]|\([^()\n]*\))+?)\s*[)\]]?\s*\.?$",
    re.I,
)
# "after X and after Y": each reference after the first may repeat the phrase's word.
REPEATED_WORDS = re.compile(rf"^{DEPENDENCY_WORDS}", re.I)
REF_SEPARATOR = re.compile(r",|\band\b|;")
PRIORITY = re.compile(
    r"\((?P<p>high|medium|low)(?:\s+priority)?\)|\bpriority\s*:\s*(?P<q>high|medium|low)\b|\[(?P<r>P[0-2])\]",
    re.I,
)
P_LEVELS = {"P0": "high", "P1": "medium", "P2": "low"}
EXPLICIT_KEY = re.compile(r"^(?:\*\*)?(?P<key>[A-Z][A-Z0-9]*-\d+(?:\.\d+)?)(?:\*\*)?\s*[:.\-]\s+")


@dataclass
class _Item:
    spec: TaskSpec
    refs: list[str] = field(default_factory=list)
    # The whole phrase, for a name that holds a separator ("after Search and filter").
    phrase: str = ""


def parse_markdown(text: str, *, path: str = "PRD.md") -> PlanDocument:
    """Raises PlanImportError when the file has no list items."""
    masked = mask_code_fences(text)
    lines = text.split("\n")
    masked_lines = masked.split("\n")
    headings = [
        (i, len(m["hashes"]), m["title"])
        for i, line in enumerate(masked_lines)
        if (m := HEADING.match(line))
    ]
    # Features come from the shallowest heading level that has list items under it;
    # a single H1 title above them is just the document's title.
    levels = sorted({level for _, level, _ in headings})
    feature_level = next(
        (lvl for lvl in levels if sum(1 for _, lv, _ in headings if lv == lvl) > 1 or lvl > 1),
        levels[0] if levels else None,
    )
    document = PlanDocument(source=path)
    feature: FeatureSpec | None = None
    items: list[_Item] = []
    items_per_feature: Counter[str] = Counter()
    current: _Item | None = None
    base_indent: int | None = None
    for index, line in enumerate(masked_lines):
        heading = HEADING.match(line)
        if heading and len(heading["hashes"]) == feature_level:
            number = len(document.features) + 1
            feature = FeatureSpec(
                key=f"F{number:02d}",
                name=_clean(heading["title"])[:300],
                position=number - 1,
                origin=Origin(path, index + 1),
            )
            document.features.append(feature)
            current, base_indent = None, None
            continue
        if heading:
            current = None
            continue
        item = LIST_ITEM.match(line)
        if item:
            indent = len(item["indent"].expandtabs(4))
            if base_indent is None or indent <= base_indent or current is None:
                base_indent = indent if base_indent is None or current is None else base_indent
            if current is not None and indent > base_indent:
                current.spec.description += ("\n" if current.spec.description else "") + lines[
                    index
                ].strip()
                continue
            if feature is None:
                feature = FeatureSpec(key="F01", name="Plan", origin=Origin(path, index + 1))
                document.features.append(feature)
            items_per_feature[feature.key] += 1
            position = items_per_feature[feature.key]
            current = _item(lines[index], item, feature, index + 1, path, position)
            items.append(current)
            continue
        if not line.strip():
            continue
        if current is not None and line.startswith((" ", "\t")):
            separator = "\n" if current.spec.description else ""
            current.spec.description += separator + lines[index].strip()
            continue
        current = None
        # Prose under a heading, before its first item, describes the feature.
        if feature is not None and not items_per_feature[feature.key]:
            separator = "\n" if feature.description else ""
            feature.description += separator + _clean(lines[index])
    if not items:
        raise PlanImportError(
            "no list items found: expected '- task' lines under '## Feature' headings",
            origin=Origin(path, 1),
        )
    _resolve(items, document)
    document.features = [f for f in document.features if items_per_feature[f.key]]
    document.tasks = [i.spec for i in items]
    document.validate()
    document.assign_depth_waves()
    return document


def _clean(text: str) -> str:
    return re.sub(r"[*_`]+", "", text).strip()


def _item(
    raw_line: str, match: re.Match[str], feature: FeatureSpec, line: int, path: str, position: int
) -> _Item:
    # `match` is on the masked line; masking leaves a list item's line as it was.
    raw = LIST_ITEM.match(raw_line)
    text = (raw or match)["text"].strip()
    priority = "medium"
    found = PRIORITY.search(text)
    if found:
        priority = (
            found["p"] or found["q"] or P_LEVELS.get((found["r"] or "").upper(), "medium")
        ).lower()
        text = (text[: found.start()] + text[found.end() :]).strip()
    refs: list[str] = []
    phrase = ""
    dependency = DEPENDENCY.search(text)
    if dependency:
        phrase = dependency["refs"].strip(" .`*")
        refs = [
            REPEATED_WORDS.sub("", r.strip(" .`*")).strip(" .`*")
            for r in REF_SEPARATOR.split(phrase)
        ]
        refs = [r for r in refs if r]
        text = text[: dependency.start()].rstrip(" ,;-—(")
    key = None
    explicit = EXPLICIT_KEY.match(text)
    if explicit:
        key = explicit["key"]
        text = text[explicit.end() :]
    spec = TaskSpec(
        key=key or f"{feature.key}-T{position}",
        name=_clean(text)[:300] or f"Task {position}",
        feature=feature.key,
        priority=priority,
        position=position,
        status="done" if (match["check"] or "").lower() == "x" else None,
        origin=Origin(path, line),
    )
    return _Item(spec=spec, refs=refs, phrase=phrase)


def _resolve(items: list[_Item], document: PlanDocument) -> None:
    """Match each "after X" reference to a task by key, number or (unique) name. Prose is
    a hint, not a contract: a phrase that names no task ("after the Regla 4 section") is
    kept on the task as a note and reported as a warning."""
    names = _Names(items)
    for item in items:
        targets: list[str | None] = []
        if len(item.refs) > 1:
            # A name with "and" or a comma in it is one task, not several.
            whole = names.match(item.phrase)
            targets = [whole] if whole is not None else []
        if not targets:
            targets = [names.match(ref) for ref in item.refs]
        for ref, target in zip(item.refs, targets, strict=False):
            if target is None:
                item.spec.extra.setdefault("dependency_notes", []).append(ref)
                document.warnings.append(
                    f"{item.spec.origin}: '{ref}' in a dependency phrase matches no task; "
                    "kept as a note on the task"
                )
                continue
            if target != item.spec.key and target not in item.spec.depends_on:
                item.spec.depends_on.append(target)


class _Names:
    """Tasks found by key, number, whole name or a unique part of a name, without going
    over every task for each reference: the names are one text searched at C speed."""

    def __init__(self, items: list[_Item]) -> None:
        self.keys = [i.spec.key for i in items]
        self.by_key = {key.lower(): key for key in self.keys}
        self.by_name: dict[str, list[str]] = {}
        lowered = [i.spec.name.lower() for i in items]
        for key, name in zip(self.keys, lowered, strict=True):
            self.by_name.setdefault(name, []).append(key)
        # Names never hold a newline, so a part of one never spans two.
        self.text = "\n".join(lowered)
        self.starts: list[int] = []
        offset = 0
        for name in lowered:
            self.starts.append(offset)
            offset += len(name) + 1

    def match(self, ref: str) -> str | None:
        lowered = ref.lower().strip()
        if lowered in self.by_key:
            return self.by_key[lowered]
        number = re.fullmatch(r"(?:task\s*)?#?(\d+)", lowered)
        if number and 1 <= int(number[1]) <= len(self.keys):
            return self.keys[int(number[1]) - 1]
        exact = self.by_name.get(lowered, [])
        if len(exact) == 1:
            return exact[0]
        if not lowered or "\n" in lowered:
            return None
        first = self.text.find(lowered)
        if first < 0:
            return None
        index = bisect_right(self.starts, first) - 1
        # A second name holding it makes the part ambiguous.
        next_name = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.text)
        if self.text.find(lowered, next_name) >= 0:
            return None
        return self.keys[index]
