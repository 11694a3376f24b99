"""Files the dashboard keeps between an import's preview and the user's choice.

A browser cannot send a chosen file again by itself, so the upload waits on the server
(in IMPORT_STASH_DIR, shared by every web process) for the "replace" or "merge"
button, and is deleted once imported or after a day.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from pathlib import Path

from django.conf import settings

from planning.importers import ImportSource
from planning.importers.document import PlanImportError
from planning.models import Project

KEPT_S = 24 * 3600
TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def _folder() -> Path:
    return Path(settings.IMPORT_STASH_DIR)


def _paths(project: Project, token: str) -> tuple[Path, Path]:
    base = _folder() / f"{project.pk}-{token}"
    return base.with_suffix(".data"), base.with_suffix(".json")


def import_stash_save(*, project: Project, name: str, data: bytes) -> str:
    """Keep an uploaded file for `project`; returns the token that finds it again."""
    folder = _folder()
    folder.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - KEPT_S
    for old in folder.iterdir():
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    token = secrets.token_urlsafe(18)
    body, meta = _paths(project, token)
    body.write_bytes(data)
    meta.write_text(json.dumps({"name": name}))
    return token


def import_stash_load(*, project: Project, token: str) -> ImportSource:
    """The file kept under `token` for `project`. Raises PlanImportError when it is gone."""
    body, meta = _paths(project, token) if TOKEN.match(token) else (Path(), Path())
    if not (TOKEN.match(token) and body.is_file() and meta.is_file()):
        raise PlanImportError("the uploaded file is no longer kept: choose it again")
    name = json.loads(meta.read_text())["name"]
    return ImportSource.from_bytes(str(name), body.read_bytes())


def import_stash_drop(*, project: Project, token: str) -> None:
    if TOKEN.match(token):
        for path in _paths(project, token):
            path.unlink(missing_ok=True)
