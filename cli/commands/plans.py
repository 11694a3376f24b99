"""Importing a plan file into a project, and exporting a project's plan."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cli.client import Api
from cli.config import project_slug
from cli.errors import CliError, UsageError, reported
from cli.options import json_option, person_api, project_option
from cli.output import note, print_json

# A plan of thousands of tasks is parsed and written in one transaction on the server.
IMPORT_TIMEOUT_S = 600.0
# How often a large file's import, which a worker carries out, is asked how far it got.
JOB_POLL_S = 1.0


class _Upload(io.BytesIO):
    """The file's bytes, reporting each chunk the HTTP client reads, for the progress bar."""

    def __init__(self, data: bytes, on_read: Callable[[int], None]) -> None:
        super().__init__(data)
        self.on_read = on_read

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.on_read(len(chunk))
        return chunk


def _payload(path: Path) -> tuple[str, bytes]:
    """The file's name and bytes; a folder (a GSD .planning/) goes as a zip of its files."""
    if path.is_dir():
        import zipfile

        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                archive.write(file, file.relative_to(path).as_posix())
        return f"{path.name}.zip", buffer.getvalue()
    try:
        return path.name, path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"No such file or folder: {path}") from None
    except OSError as exc:
        raise CliError(f"Cannot read {path}: {exc.strerror}") from None


def _upload(api: Api, slug: str, *, name: str, data: bytes, fmt: str, progress: bool) -> Any:
    """The import's outcome. A file the server imports on a worker (it answers 202 with
    the job) is waited for, its progress polled."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn

    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not progress,
    )
    with bar:
        answer = _send(api, slug, bar, name=name, data=data, fmt=fmt)
        if "status" not in answer:  # imported while the request waited
            return answer
        bar.update(bar.task_ids[0], visible=False)
        return _wait_for_job(api, slug, answer, bar)


def _wait_for_job(api: Api, slug: str, job: dict[str, Any], bar: Any) -> Any:
    """Poll an import job until it ends: its result, or CliError with its errors."""
    import time

    importing = bar.add_task(f"{job['stage']}", total=100, completed=job["progress"])
    while job["status"] not in ("succeeded", "failed"):
        time.sleep(JOB_POLL_S)
        job = api.json("GET", f"projects/{slug}/imports/{job['id']}/")
        bar.update(importing, description=job["stage"], completed=job["progress"])
    if job["status"] == "failed":
        error = (job.get("errors") or [{}])[0]
        where = ":".join(str(p) for p in (error.get("file"), error.get("line")) if p)
        detail = error.get("detail") or "the import failed"
        # The importer's message names its file and line already; the job's adds them
        # only when it does not.
        message = detail if not where or detail.startswith(where) else f"{where}: {detail}"
        # The server answered (the job's status page did): nothing was imported.
        raise CliError(message, status=200)
    return job["result"]


def _send(api: Api, slug: str, bar: Any, *, name: str, data: bytes, fmt: str) -> Any:
    sending = bar.add_task(f"uploading {name}", total=len(data))

    def advance(size: int) -> None:
        bar.advance(sending, size)
        if bar.tasks[sending].completed >= len(data):
            bar.update(sending, description="applying the plan")

    upload = _Upload(data, advance)
    return api.json(
        "POST",
        f"projects/{slug}/imports/",
        files={"file": (name, upload)},
        data={"format": fmt},
        timeout_s=IMPORT_TIMEOUT_S,
        not_found=f"No project {slug!r} that you are a member of; pass --create to create it.",
    )


@click.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@project_option
@click.option(
    "--format",
    "fmt",
    default="auto",
    show_default=True,
    help="auto, gsd, taskmaster or markdown (auto: told by the file).",
)
@click.option("--create", is_flag=True, help="Create the project first when it does not exist.")
@click.option("--name", default="", help="The created project's name (default: its slug).")
@json_option
@reported
def import_plan(
    path: Path, project: str | None, fmt: str, create: bool, name: str, json_output: bool
) -> None:
    """Import a plan into a project: all or nothing, and re-importing changes nothing.

    PATH is a Task Master tasks.json, a GSD .planning/ folder or zip, a PLAN.md or a PRD."""
    slug = project_slug(project)
    api = person_api()
    filename, data = _payload(path)
    created = False
    if create and api.request("GET", f"projects/{slug}/", accept=(404,)).status_code == 404:
        api.json("POST", "projects/", body={"name": name or slug, "slug": slug})
        created = True
    progress = not json_output and sys.stderr.isatty()
    try:
        outcome = _upload(api, slug, name=filename, data=data, fmt=fmt, progress=progress)
    except CliError as exc:
        # The project was made for this import only, so an import the server refused
        # leaves nothing. Without an answer the import may still be running: it stays.
        if created and exc.status is not None and exc.status < 500:
            api.request("DELETE", f"projects/{slug}/")
        raise
    if json_output:
        print_json(outcome)
        return
    for warning in outcome.get("warnings", []):
        note(f"warning: {warning}")
    version = f"version {outcome['version']}" if outcome.get("version") else "no new version"
    made = " (created)" if created else ""
    note(f"Imported {path.name} into {slug}{made}: {outcome['summary']}; {version}.")


@click.command()
@project_option
@click.option(
    "--format",
    "fmt",
    default="markdown",
    show_default=True,
    help="markdown, json (the snapshot), gsd (a .planning zip) or taskmaster.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write to this file (default: stdout).",
)
@json_option
@reported
def export(project: str | None, fmt: str, output: Path | None, json_output: bool) -> None:
    """Export the project's working plan, with task statuses where the format has them."""
    slug = project_slug(project)
    answer = person_api().request(
        "GET",
        f"projects/{slug}/export/{fmt}/",
        not_found=f"No project {slug!r} that you are a member of.",
    )
    content = answer.content
    if output is None:
        if fmt == "gsd" and sys.stdout.isatty():
            raise UsageError("A gsd export is a zip file: pass --output PATH.")
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
        return
    output.write_bytes(content)
    result = {"project": slug, "format": fmt, "path": str(output), "bytes": len(content)}
    if json_output:
        print_json(result)
        return
    note(f"Wrote {slug}'s plan as {fmt} to {output} ({len(content):,} bytes).")
