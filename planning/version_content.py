"""What a version stores of a plan, and working it out while the database is busy.

A version holds its plan's snapshot, the rows' source identities and a Markdown
rendering. For a 20,000-task import that is some 0.5 s of Python on a quiet 2-core
machine, and the import then waits about as long on PostgreSQL checking the new rows'
foreign keys (core.db.references_checked_now). When the version can be taken from the
applied document itself (planning.stored_plan), `content_ahead` works it out on another
thread during that wait: the thread only reads the document, which nothing changes
meanwhile, and touches no database; Python runs it while the importing thread waits on
the server.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connection

from planning.exporters.markdown import render_markdown_body, titled_markdown
from planning.importers.document import PlanDocument
from planning.stored_plan import as_stored


@dataclass(frozen=True)
class VersionContent:
    """A version's content but for its title, which needs its number."""

    snapshot: dict[str, Any]
    # The snapshot as the version's JSON field stores it, when already encoded.
    snapshot_json: str | None
    source_identities: dict[str, dict[str, str]]
    markdown_body: str

    def markdown(self, title: str) -> str:
        return titled_markdown(title, self.markdown_body)


def version_content(
    document: PlanDocument, *, snapshot: dict[str, Any] | None = None, encoded: bool = False
) -> VersionContent:
    """The content of a version of `document`, whose snapshot the caller may have taken
    already; `encoded` also encodes the snapshot."""
    if snapshot is None:
        snapshot = document.to_snapshot()
    return VersionContent(
        snapshot=snapshot,
        # What Django's JSONField sends (no custom encoder on the version's fields).
        snapshot_json=json.dumps(snapshot) if encoded else None,
        source_identities=document.source_identities(),
        markdown_body=render_markdown_body(document),
    )


def _stored_content(applied: PlanDocument, *, encoded: bool = True) -> VersionContent | None:
    document = as_stored(applied)
    return version_content(document, encoded=encoded) if document is not None else None


@contextmanager
def content_ahead(applied: PlanDocument | None) -> Iterator[Callable[[], VersionContent | None]]:
    """Start working out the content of a version of `applied` (the document just made
    the whole plan of a project that held nothing else), and give a function
    that waits for it: the content, or None when the version must read the rows back
    instead (as_stored). With `applied` None, that function gives None at once.

    Leaving the block waits for the work to end, so that no thread outlives it."""
    if applied is None:
        yield lambda: None
        return
    if connection.vendor != "postgresql":
        # SQLite checks references at the commit: there is no wait to fill, and the
        # version would only wait for the thread at once. Its driver takes the JSON as
        # text the field encodes anyway, so it is not encoded ahead either.
        yield lambda: _stored_content(applied, encoded=False)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="version-content") as pool:
        try:
            future = pool.submit(_stored_content, applied)
        except RuntimeError:  # no thread to be had: work it out when asked instead
            yield lambda: _stored_content(applied)
            return
        # Leaving the block, on an error too, waits for the thread (a second at most for
        # 20,000 tasks): it has nearly always started, and a thread cannot be stopped.
        yield future.result
