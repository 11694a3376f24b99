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


def _upload(
    api: Api, slug: str, *, name: str, data: bytes, fmt: str, mode: str, progress: bool
) -> tuple[int, Any]:
    """The server's status (201 imported, 409 waiting for a choice) and its answer. A
    file the server imports on a worker (it answers 202 with the job) is waited for, its
    progress polled, and answers as an import made at once; a job waiting for a choice
    answers 409 as a synchronous import does, with the job beside its preview."""
    with _progress_bar(progress) as bar:
        code, answer = _send(api, slug, bar, name=name, data=data, fmt=fmt, mode=mode)
        if code != 202:  # imported (or previewed) while the request waited
            return code, answer
        bar.update(bar.task_ids[0], visible=False)
        return _wait_for_job(api, slug, answer, bar)


def _choose_for_job(
    api: Api, slug: str, job: dict[str, Any], *, mode: str, progress: bool
) -> tuple[int, Any]:
    """Answer a job waiting for a choice ("replace", "merge" or "cancel"), then wait for
    it as for a new upload."""
    answer = api.json("POST", f"projects/{slug}/imports/{job['id']}/choice/", body={"mode": mode})
    with _progress_bar(progress) as bar:
        return _wait_for_job(api, slug, answer, bar)


def _progress_bar(shown: bool) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not shown,
    )


def job_stage_line(job: dict[str, Any]) -> str:
    """An import job's stage as the progress bar names it, with the rows applied while
    the worker applies them (a server without them sends none)."""
    applied, total = job.get("rows_applied"), job.get("rows_total")
    if isinstance(applied, int) and isinstance(total, int):
        return f"{job['stage']}: {applied:,} of {total:,} rows"
    return str(job["stage"])


def _wait_for_job(api: Api, slug: str, job: dict[str, Any], bar: Any) -> tuple[int, Any]:
    """Poll an import job until it ends (201 and its result, or CliError with its
    errors) or waits for a choice (409, as a synchronous import answers, and the job)."""
    import time

    importing = bar.add_task(job_stage_line(job), total=100, completed=job["progress"])
    while job["status"] not in ("succeeded", "failed", "awaiting_choice"):
        time.sleep(JOB_POLL_S)
        job = api.json("GET", f"projects/{slug}/imports/{job['id']}/")
        bar.update(importing, description=job_stage_line(job), completed=job["progress"])
    if job["status"] == "awaiting_choice":
        detail = f"{job['file_name']} comes from another source than the plan: choose."
        return 409, {"detail": detail, "preview": job["preview"], "job": job}
    if job["status"] == "failed":
        error = (job.get("errors") or [{}])[0]
        where = ":".join(str(p) for p in (error.get("file"), error.get("line")) if p)
        detail = error.get("detail") or "the import failed"
        # The importer's message names its file and line already; the job's adds them
        # only when it does not.
        message = detail if not where or detail.startswith(where) else f"{where}: {detail}"
        # The server answered (the job's status page did): nothing was imported.
        raise CliError(message, status=200)
    return 201, job["result"]


def _send(
    api: Api, slug: str, bar: Any, *, name: str, data: bytes, fmt: str, mode: str
) -> tuple[int, Any]:
    sending = bar.add_task(f"uploading {name}", total=len(data))

    def advance(size: int) -> None:
        bar.advance(sending, size)
        if bar.tasks[sending].completed >= len(data):
            bar.update(sending, description="applying the plan")

    upload = _Upload(data, advance)
    answer = api.request(
        "POST",
        f"projects/{slug}/imports/",
        files={"file": (name, upload)},
        data={"format": fmt, "mode": mode},
        timeout_s=IMPORT_TIMEOUT_S,
        not_found=f"No project {slug!r} that you are a member of; pass --create to create it.",
        accept=(409,),
    )
    return answer.status_code, api.decoded(answer)


# Exit code of `import --json` when the file waits for --replace or --merge.
CHOICE_NEEDED = 4
PREVIEW_LINES = 20


def _show_preview(preview: dict[str, Any]) -> None:
    counts = preview["counts"]
    note(
        f"The plan came from {', '.join(preview['plan_sources']) or 'elsewhere'}; this file is "
        f"{preview['file_source']}. Importing it would add {counts['added']}, change "
        f"{counts['changed']} and (replacing the plan) remove {counts['removed']} tasks."
    )
    tasks = preview["tasks"]
    for label, rows in (("+", tasks["added"]), ("~", tasks["changed"]), ("-", tasks["removed"])):
        for row in rows[:PREVIEW_LINES]:
            fields = f" ({', '.join(row['changed_fields'])})" if "changed_fields" in row else ""
            note(f"  {label} {row['key']}  {row['name']}{fields}")
        if len(rows) > PREVIEW_LINES:
            note(f"  {label} …and {len(rows) - PREVIEW_LINES} more")
    if tasks["pages"] > 1:
        note(f"  (page 1 of {tasks['pages']}; the API's `page` shows the others)")


def _choose(preview: dict[str, Any]) -> str:
    _show_preview(preview)
    try:
        choice: str = click.prompt(
            "Replace the plan with this file, merge it in, or cancel?",
            type=click.Choice(["replace", "merge", "cancel"]),
            default="cancel",
            err=True,
        )
    except click.Abort:  # no answer: stdin closed, as in a script
        raise UsageError("Nothing imported: pass --replace or --merge to choose.") from None
    if choice == "cancel":
        raise CliError("Nothing imported.")
    return choice


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
@click.option(
    "--replace",
    "mode",
    flag_value="replace",
    help="The plan becomes this file, when it came from another source.",
)
@click.option(
    "--merge",
    "mode",
    flag_value="merge",
    help="Add and update this file's tasks, keeping the rest, when the plan came from "
    "another source.",
)
@json_option
@reported
def import_plan(
    path: Path,
    project: str | None,
    fmt: str,
    create: bool,
    name: str,
    mode: str | None,
    json_output: bool,
) -> None:
    """Import a plan into a project: all or nothing, and re-importing changes nothing.

    PATH is a Task Master tasks.json, a GSD .planning/ folder or zip, a PLAN.md or a PRD.
    Re-importing the plan's own source applies at once, matching tasks by their place in
    the source. A file from elsewhere into a non-empty plan is previewed first: choose
    to replace the plan or merge, or pass --replace or --merge (--json prints the
    preview and exits with 4)."""
    slug = project_slug(project)
    api = person_api()
    filename, data = _payload(path)
    created = False
    if create and api.request("GET", f"projects/{slug}/", accept=(404,)).status_code == 404:
        api.json("POST", "projects/", body={"name": name or slug, "slug": slug})
        created = True
    progress = not json_output and sys.stderr.isatty()
    try:
        code, outcome = _upload(
            api, slug, name=filename, data=data, fmt=fmt, mode=mode or "ask", progress=progress
        )
        if code == 409:
            if json_output:  # a worker's job stays waiting: its `choice/` takes the answer
                print_json(outcome)
                sys.exit(CHOICE_NEEDED)
            job = outcome.get("job")
            try:
                chosen = _choose(outcome["preview"])
            except CliError:
                if job is not None:  # nothing is left waiting on the server
                    api.json(
                        "POST",
                        f"projects/{slug}/imports/{job['id']}/choice/",
                        body={"mode": "cancel"},
                    )
                raise
            if job is not None:
                code, outcome = _choose_for_job(api, slug, job, mode=chosen, progress=progress)
            else:
                code, outcome = _upload(
                    api, slug, name=filename, data=data, fmt=fmt, mode=chosen, progress=progress
                )
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
