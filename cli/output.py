"""Printing: JSON for scripts (`--json`), rich tables and lines for people.

rich is imported only when something is drawn for a person, so `--json` stays quick."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def note(message: str) -> None:
    """A line for the person on stderr, so stdout stays what a pipe expects."""
    sys.stderr.write(message + "\n")


def table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str = "", caption: str = ""
) -> None:
    from rich.table import Table

    grid = Table(*columns, title=title or None, caption=caption or None, title_justify="left")
    for row in rows:
        grid.add_row(*("" if cell is None else str(cell) for cell in row))
    console().print(grid)


def fields(pairs: Iterable[tuple[str, Any]], *, title: str = "") -> None:
    """A record as aligned `name  value` lines, empty values left out."""
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for name, value in pairs:
        if value in (None, "", [], {}):
            continue
        if isinstance(value, list):
            value = ", ".join(str(item) for item in value)
        elif isinstance(value, dict):
            value = json.dumps(value, ensure_ascii=False)
        grid.add_row(name, str(value))
    out = console()
    if title:
        out.print(f"[bold]{title}[/bold]")
    out.print(grid)


def task_fields(task: dict[str, Any]) -> None:
    fields(
        [
            ("status", task.get("status")),
            ("priority", task.get("priority")),
            ("feature", task.get("feature")),
            ("sub-feature", task.get("sub_feature")),
            ("wave", task.get("wave")),
            ("depends on", task.get("depends_on")),
            ("files", task.get("files")),
            ("verify", task.get("verify")),
            ("done when", task.get("done_criteria")),
            ("needs a person", "yes" if task.get("needs_human") else ""),
            ("assigned agent", task.get("assigned_agent")),
            ("description", task.get("description")),
        ],
        title=f"{task.get('key')}  {task.get('name', '')}",
    )
