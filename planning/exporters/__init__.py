"""Exporters turn a plan document into the formats people use elsewhere."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.utils.text import slugify

from planning.exporters.gsd import export_gsd_zip
from planning.exporters.markdown import render_markdown
from planning.exporters.taskmaster import export_tasks_json
from planning.importers.document import PlanDocument

EXPORT_FORMATS = ("markdown", "json", "gsd", "taskmaster")


@dataclass(frozen=True)
class ExportedFile:
    filename: str
    content_type: str
    content: bytes


def export_plan(document: PlanDocument, *, fmt: str, title: str) -> ExportedFile:
    """Raises ValueError for an unknown format."""
    stem = slugify(title) or "plan"
    if fmt == "markdown":
        text = render_markdown(document, title=title)
        return ExportedFile(f"{stem}.md", "text/markdown; charset=utf-8", text.encode())
    if fmt == "json":
        text = json.dumps(document.to_snapshot(), indent=2, ensure_ascii=False) + "\n"
        return ExportedFile(f"{stem}.json", "application/json", text.encode())
    if fmt == "gsd":
        return ExportedFile(
            f"{stem}-planning.zip", "application/zip", export_gsd_zip(document, title=title)
        )
    if fmt == "taskmaster":
        return ExportedFile(
            "tasks.json", "application/json", export_tasks_json(document, name=title).encode()
        )
    raise ValueError(f"unknown export format {fmt!r}: expected one of {', '.join(EXPORT_FORMATS)}")
