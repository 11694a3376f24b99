"""Importers turn files people already have into a `PlanDocument`.

Every importer shares one interface: `parse(source) -> PlanDocument`, raising
`PlanImportError` (file, line, what was expected) for anything it cannot read.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.conf import settings

from planning.importers.document import Origin, PlanDocument, PlanImportError
from planning.importers.gsd import looks_like_plan, parse_planning_folder
from planning.importers.identity import assign_identities
from planning.importers.markdown import parse_markdown
from planning.importers.taskmaster import parse_tasks_json
from planning.importers.text import decode
from planning.importers.titles import clean_document_titles

FORMATS = ("auto", "gsd", "taskmaster", "markdown")
READABLE_SUFFIXES = {".md", ".markdown", ".json", ".txt"}
MAX_FILES = 20_000

Progress = Callable[[int, int], None]


@dataclass
class ImportSource:
    """The text files of an upload, a folder, a zip or a single file."""

    name: str
    files: dict[str, str]  # relative posix path -> text

    @classmethod
    def from_path(cls, path: Path) -> ImportSource:
        if path.is_dir():
            files = {}
            candidates = sorted(p for p in path.rglob("*") if p.is_file())
            _check_limits(len(candidates), sum(p.stat().st_size for p in candidates), path.name)
            for file in candidates:
                if file.suffix.lower() in READABLE_SUFFIXES:
                    relative = file.relative_to(path).as_posix()
                    files[relative] = decode(file.read_bytes(), name=relative)
            return cls(name=path.name, files=files)
        if not path.exists():
            raise PlanImportError("no such file or folder", origin=Origin(str(path)))
        return cls.from_bytes(path.name, path.read_bytes())

    @classmethod
    def from_bytes(cls, name: str, data: bytes) -> ImportSource:
        if zipfile.is_zipfile(io.BytesIO(data)):
            return cls._from_zip(name, data)
        _check_limits(1, len(data), name)
        return cls(name=name, files={name: decode(data, name=name)})

    @classmethod
    def _from_zip(cls, name: str, data: bytes) -> ImportSource:
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            members = [m for m in archive.infolist() if not m.is_dir()]
            _check_limits(len(members), sum(m.file_size for m in members), name)
            files = {}
            for member in members:
                path = PurePosixPath(member.filename)
                if ".." in path.parts or path.suffix.lower() not in READABLE_SUFFIXES:
                    continue
                if any(part.startswith("__MACOSX") for part in path.parts):
                    continue
                files[path.as_posix()] = decode(archive.read(member), name=path.as_posix())
        except zipfile.BadZipFile as exc:
            raise PlanImportError(f"not a readable zip file ({exc})", origin=Origin(name)) from None
        return cls(name=name, files=files)


def _check_limits(count: int, size: int, name: str) -> None:
    limit = settings.IMPORT_MAX_BYTES
    if count > MAX_FILES or size > limit:
        raise PlanImportError(
            f"too large to import ({count} files, {size // 1024 // 1024} MB): expected at most "
            f"{MAX_FILES} files and {limit // 1024 // 1024} MB (IMPORT_MAX_BYTES)",
            origin=Origin(name),
        )


def detect_format(source: ImportSource) -> str:
    """GSD when any file is a plan by its name or its shape (a flat `07-03-…-PLAN.md`,
    `<task>` elements), else Task Master for JSON, else Markdown."""
    names = [PurePosixPath(p).name for p in source.files]
    if any(looks_like_plan(PurePosixPath(p).name, text) for p, text in source.files.items()):
        return "gsd"
    if any(n.lower().endswith(".json") for n in names):
        return "taskmaster"
    if any(n.lower().endswith((".md", ".markdown", ".txt")) for n in names):
        return "markdown"
    raise PlanImportError(
        "cannot tell the format: expected NN-MM-PLAN.md files (GSD), a tasks.json "
        "(Task Master) or a Markdown file",
        origin=Origin(source.name),
    )


def parse_source(source: ImportSource, fmt: str = "auto") -> PlanDocument:
    """The plan in `source`, each row with its source identity. Raises PlanImportError
    for unreadable or inconsistent input."""
    fmt = _resolve_format(source, fmt)
    document = _parse(source, fmt)
    # Identities are taken from the clean names, as the rows will be stored.
    clean_document_titles(document)
    assign_identities(document, fmt=fmt, source=source.name)
    return document


def _resolve_format(source: ImportSource, fmt: str) -> str:
    if fmt not in FORMATS:
        raise PlanImportError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if not source.files:
        raise PlanImportError("no readable files (.md or .json) found", origin=Origin(source.name))
    return detect_format(source) if fmt == "auto" else fmt


def _parse(source: ImportSource, fmt: str) -> PlanDocument:
    if fmt == "gsd":
        return parse_planning_folder(source.files, source=source.name)
    if fmt == "taskmaster":
        path = _pick(source, lambda p: p.name == "tasks.json") or _pick(
            source, lambda p: p.suffix == ".json"
        )
        if path is None:
            raise PlanImportError("no tasks.json found", origin=Origin(source.name))
        return parse_tasks_json(source.files[path], path=path)
    markdown = _pick(source, lambda p: p.suffix.lower() in (".md", ".markdown", ".txt"))
    if markdown is None:
        raise PlanImportError("no Markdown file found", origin=Origin(source.name))
    return parse_markdown(source.files[markdown], path=markdown)


def _pick(source: ImportSource, test: Callable[[PurePosixPath], bool]) -> str | None:
    matches = sorted(
        (p for p in source.files if test(PurePosixPath(p))), key=lambda p: (p.count("/"), p)
    )
    return matches[0] if matches else None


__all__ = [
    "FORMATS",
    "ImportSource",
    "PlanDocument",
    "PlanImportError",
    "detect_format",
    "parse_source",
]
