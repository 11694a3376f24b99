"""A version's content, worked out on another thread while an import writes."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection

from planning.exporters.markdown import render_markdown
from planning.importers import ImportSource, parse_source
from planning.stored_plan import as_stored
from planning.version_content import content_ahead, version_content

TASKS = {
    "master": {
        "tasks": [
            {"id": 1, "title": "One", "details": "How\nexactly", "status": "done"},
            {"id": 2, "title": "Two", "dependencies": [1], "subtasks": [{"id": 1, "title": "a"}]},
        ]
    }
}


def document():
    return parse_source(ImportSource("tasks.json", {"tasks.json": json.dumps(TASKS)}), "taskmaster")


def content_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("version-content")]


def test_the_content_is_that_of_the_document_as_stored():
    applied = document()

    with content_ahead(applied) as content:
        ahead = content()

    stored = as_stored(applied)
    assert ahead is not None and stored is not None
    assert ahead.snapshot == stored.to_snapshot()
    # Encoded ahead where the driver would encode it in the insert (PostgreSQL).
    if connection.vendor == "postgresql":
        assert ahead.snapshot_json == json.dumps(ahead.snapshot)
    else:
        assert ahead.snapshot_json is None
    assert ahead.source_identities == stored.source_identities()
    assert ahead.markdown("Plan — v1") == render_markdown(stored, title="Plan — v1")
    assert not content_threads()


def test_without_a_document_there_is_no_content_and_no_thread():
    with content_ahead(None) as content:
        assert content() is None
        assert not content_threads()


def test_a_document_the_rows_might_not_repeat_gives_no_content():
    applied = document()
    applied.tasks[0].extra = {"ratio": 0.5}  # a float: read the rows instead

    with content_ahead(applied) as content:
        assert content() is None


def test_an_error_in_the_block_leaves_no_thread_behind():
    with pytest.raises(RuntimeError, match="apply failed"), content_ahead(document()):
        raise RuntimeError("apply failed")

    assert not content_threads()


def test_the_markdown_is_render_markdown_under_any_title():
    applied = document()
    content = version_content(applied)

    assert content.snapshot_json is None  # encoded only when asked
    for title in ("x", "Crewboard — v12", ""):
        assert content.markdown(title) == render_markdown(applied, title=title)


@pytest.mark.django_db
def test_a_first_import_takes_its_version_from_the_document_on_postgresql_s_wait(
    project, monkeypatch
):
    import planning.version_content as module
    from planning import selectors
    from planning.services.imports import plan_import

    worked_on: list[str] = []
    stored_content = module._stored_content

    def recorded(applied, **options):
        worked_on.append(threading.current_thread().name)
        return stored_content(applied, **options)

    def no_read_back(**kwargs):
        raise AssertionError("the version read the rows back")

    monkeypatch.setattr(module, "_stored_content", recorded)
    monkeypatch.setattr(selectors, "plan_document", no_read_back)
    source = ImportSource("tasks.json", {"tasks.json": json.dumps(TASKS)})

    outcome = plan_import(project=project, source=source, fmt="taskmaster")

    assert outcome.version is not None and len(outcome.version.snapshot["tasks"]) == 3
    assert len(worked_on) == 1
    # On its own thread where PostgreSQL's reference checks leave time for it.
    on_the_side = connection.vendor == "postgresql"
    assert worked_on[0].startswith("version-content") is on_the_side


@pytest.mark.django_db
def test_an_unchanged_plan_makes_no_version_and_renders_nothing(project, monkeypatch):
    import planning.version_content as module
    from planning.services.imports import plan_import
    from planning.services.versions import version_create

    source = ImportSource("tasks.json", {"tasks.json": json.dumps(TASKS)})
    plan_import(project=project, source=source, fmt="taskmaster")

    def rendered(document):
        raise AssertionError("the Markdown of a version not made was rendered")

    monkeypatch.setattr(module, "render_markdown_body", rendered)
    assert version_create(project=project, summary="again") is None
