"""Reading a Task Master `tasks.json`'s text: the JSON parsed within its limits (nesting
depth, numbers out of range, a NUL or a lone surrogate, each refused by name), and the
lines of its tags and task ids, for the messages that name them. What the parsed file
means is read in planning.importers.taskmaster.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from core.json_input import MAX_DEPTH, TOO_DEEP, json_depth, parsed_text_problem
from planning.importers.document import Origin, PlanImportError


def load_tasks_json(text: str, path: str) -> Any:
    """The JSON value of a tasks.json's text. Raises PlanImportError for text that is not
    JSON, or holds what no plan can store."""
    # Depth is counted on the text before parsing, so a deep file costs no recursion.
    if json_depth(text) > MAX_DEPTH:
        raise PlanImportError(TOO_DEEP, origin=Origin(path))
    # Told of every number that is not finite as it is read (`1e999`, `NaN`), so the
    # values are walked for them only when there is one.
    out_of_range: list[str] = []

    def number(literal: str) -> float:
        value = float(literal)
        if not math.isfinite(value):
            out_of_range.append(literal)
        return value

    try:
        data = json.loads(text, parse_float=number, parse_constant=number)
    except json.JSONDecodeError as exc:
        raise PlanImportError(
            f"not valid JSON ({exc.msg}): expected a Task Master tasks.json",
            origin=Origin(path, exc.lineno),
        ) from None
    except RecursionError:
        raise PlanImportError(
            f"nested deeper than {MAX_DEPTH} levels: a Task Master tasks.json is not",
            origin=Origin(path),
        ) from None
    except ValueError as exc:  # an integer too long to read
        raise PlanImportError(f"not readable JSON ({exc})", origin=Origin(path)) from None
    problem = parsed_text_problem(text, data)
    if problem:
        raise PlanImportError(problem, origin=Origin(path))
    # Nesting past MAX_DEPTH was refused on the text (json_depth counts exactly what
    # parsed), so only a number out of range is left for the walk to find and name.
    if out_of_range:
        _check_values(data, path)
    return data


def _check_values(data: Any, path: str) -> None:
    """Refuse nesting past MAX_DEPTH and numbers no column or JSON field can hold
    (`1e999` reads as infinity), naming where they are. Iterative: no recursion limit."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise PlanImportError(
                f"{where} is nested more than {MAX_DEPTH} levels deep: at most {MAX_DEPTH} "
                "are read",
                origin=Origin(path),
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise PlanImportError(
                f"{where or 'the file'} is a number out of range ({value}): expected a "
                "finite number",
                origin=Origin(path),
            )
        if isinstance(value, dict):
            stack.extend(
                (v, f"{where}.{k}" if where else str(k), depth + 1) for k, v in value.items()
            )
        elif isinstance(value, list):
            stack.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value))


_ID_VALUE = re.compile(r'"id"\s*:\s*"?([^",}\s]*)"?\s*[,}\n]')


@dataclass
class Locator:
    """Line numbers of task ids, from one scan of the text: tasks are looked up in file
    order, each lookup going on from where the last one stopped."""

    text: str
    cursor: int = 0
    ids: list[re.Match[str]] = field(default_factory=list)
    # Newlines before `counted_to`: lines are counted on from the last offset asked for
    # (tasks are looked up in file order), not listed for the whole file up front.
    counted_to: int = 0
    newlines: int = 0

    def __post_init__(self) -> None:
        self.ids = list(_ID_VALUE.finditer(self.text))

    def line_at(self, offset: int) -> int:
        if offset < self.counted_to:
            return self.text.count("\n", 0, offset) + 1
        self.newlines += self.text.count("\n", self.counted_to, offset)
        self.counted_to = offset
        return self.newlines + 1

    def line_of_key(self, key: str) -> int | None:
        match = re.compile(rf'"{re.escape(key)}"\s*:').search(self.text)
        return self.line_at(match.start()) if match else None

    def line_of_id(self, task_id: Any) -> int | None:
        wanted = str(task_id)
        for index in range(self.cursor, len(self.ids)):
            match = self.ids[index]
            if match.group(1) == wanted:
                self.cursor = index + 1
                return self.line_at(match.start())
        return None
