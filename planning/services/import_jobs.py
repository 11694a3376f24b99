"""The one owner of an import job's life: a plan file stored by the request and imported
by a Celery worker (`planning.tasks.import_plan_job`), so that a large upload never holds
a web worker.

```
 queued ──take──▶ running ──▶ succeeded | failed
   ▲  ▲              │  │
   │  │              │  └──▶ awaiting_choice ──▶ failed (cancelled, or no choice in a day)
   │  └──────────────┼───────── replace | merge ──┘
   └── the worker died (its lease ran out): delivered again, at most
       IMPORT_JOB_MAX_DELIVERIES times, then failed with the reason
```

A job in "ask" mode whose file comes from another source than the plan keeps the file
and the whole preview (what it would add, change and remove) until a person chooses to
replace the plan or merge, which queues it again in that mode, or cancels it.

The import itself is the public `plan_import` service, called in one place
(`_import`), inside the transaction that marks the job succeeded: a job is imported
once or not at all, and a failure leaves nothing of the plan written.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import caches
from django.db import transaction
from django.utils import timezone

from core.queue import enqueue_on_commit
from planning.importers import ImportSource
from planning.importers.document import PlanImportError
from planning.models import ImportJob, Project
from planning.selectors import import_job_rows_key
from planning.services.imports import ImportMode, ImportOutcome, ImportPreview, plan_import
from planning.services.plan_rows import RowsProgress

logger = logging.getLogger(__name__)

IMPORT_TASK = "planning.tasks.import_plan_job"
# Progress by stage: reading the file, then parsing and applying it in one transaction;
# while the rows are applied, by row (selectors.import_job_rows).
STAGES = {
    "queued": 0,
    "reading the file": 5,
    "importing": 20,
    "waiting for a choice": 100,
    "done": 100,
    "failed": 100,
}
# How long a previewed file waits for replace or merge, as the dashboard's kept uploads do.
CHOICE_KEPT = timedelta(days=1)


class ImportJobStateError(Exception):
    """The job is not in a state that allows this (say, a choice made twice)."""


def _lease(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.IMPORT_JOB_LEASE_S)


def _send(job: ImportJob) -> None:
    enqueue_on_commit(IMPORT_TASK, job.pk, queue=settings.IMPORT_QUEUE)


def import_wanted_in_background(*, size: int, asked: bool = False) -> bool:
    """Whether an upload of `size` bytes is imported by a worker rather than in the request."""
    return asked or size > settings.IMPORT_ASYNC_BYTES


@transaction.atomic
def import_job_create(
    *,
    project: Project,
    file_name: str,
    data: bytes,
    fmt: str = "auto",
    mode: str = ImportMode.ASK,
    actor: User | None = None,
) -> ImportJob:
    """Store an upload and queue its import; a worker takes it once this commits. `mode`
    is the import service's: with "ask", a file from another source than the plan fails
    the job with what it would change, and nothing is written."""
    now = timezone.now()
    job = ImportJob(
        project=project,
        created_by=actor,
        file_name=file_name[:255],
        format=fmt,
        mode=ImportMode(mode).value,
        data=data,
        size=len(data),
        lease_expires_at=now + timedelta(seconds=settings.QUEUED_RESEND_S),
    )
    job.full_clean(exclude=["data"])
    job.save()
    _send(job)
    return job


def import_job_execute(*, job_id: int) -> ImportJob | None:
    """Carry out a queued import job. Safe to deliver twice: a job that is not queued
    (running elsewhere, or finished) is left alone, and the plan is applied in the same
    transaction that finishes the job."""
    job = _take(job_id)
    if job is None:
        return None
    try:
        source = ImportSource.from_bytes(job.file_name, bytes(job.data))
        _stage(job, "importing")
        with transaction.atomic():
            # Still ours: no sweep gave it to another delivery meanwhile.
            locked = ImportJob.objects.select_for_update().filter(
                pk=job.pk, status=ImportJob.Status.RUNNING, deliveries=job.deliveries
            )
            if not locked.exists():
                return None
            outcome = _import(job, source)
            if outcome.preview is not None:
                _await_choice(job, outcome.preview)
            else:
                _finish(job, result=_result(outcome))
    except PlanImportError as exc:
        origin = exc.origin
        _fail(
            job,
            error=str(exc),
            file=origin.file if origin else "",
            line=origin.line if origin else None,
        )
    except Exception as exc:
        logger.exception("Import job %s failed", job.pk)
        _fail(job, error=f"The import failed unexpectedly ({type(exc).__name__}: {exc}).")
    _rows_forget(job)
    return job


def _import(job: ImportJob, source: ImportSource) -> ImportOutcome:
    """The one call of the import service."""
    return plan_import(
        project=job.project,
        source=source,
        fmt=job.format,
        actor=job.created_by,
        mode=ImportMode(job.mode),
        progress=_rows_reporter(job),
    )


def _await_choice(job: ImportJob, preview: ImportPreview) -> None:
    """Keep the file and its whole preview until replace or merge is chosen."""
    job.status, job.stage = ImportJob.Status.AWAITING_CHOICE, "waiting for a choice"
    job.progress = STAGES[job.stage]
    job.result = {"preview": preview.as_record()}
    job.lease_expires_at = timezone.now() + CHOICE_KEPT
    job.full_clean(exclude=["data"])
    job.save(update_fields=["status", "stage", "progress", "result", "lease_expires_at"])


@transaction.atomic
def import_job_choose(*, job: ImportJob, mode: str) -> ImportJob:
    """Import a previewed file after all: "replace" the plan with it or "merge" it in
    (the job is queued again in that mode), or "cancel" (nothing is imported). Raises
    ImportJobStateError unless the job is waiting for this choice."""
    chosen = ImportMode(mode) if mode != "cancel" else None
    if chosen is ImportMode.ASK:
        raise ValueError("choose replace, merge or cancel")
    locked = ImportJob.objects.select_for_update(of=("self",)).filter(pk=job.pk).first()
    if locked is None or locked.status != ImportJob.Status.AWAITING_CHOICE:
        raise ImportJobStateError(
            f"The import of {job.file_name} is not waiting for a choice"
            f" (it is {locked.get_status_display().lower() if locked else 'gone'})."
        )
    now = timezone.now()
    if chosen is None:
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED,
            stage="failed",
            progress=STAGES["failed"],
            error="Cancelled: nothing was imported.",
            finished_at=now,
            lease_expires_at=None,
            data=b"",
        )
    else:
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.QUEUED,
            stage="queued",
            progress=STAGES["queued"],
            mode=chosen.value,
            result={},
            lease_expires_at=now + timedelta(seconds=settings.QUEUED_RESEND_S),
        )
        _send(job)
    job.refresh_from_db()
    return job


def _rows_reporter(job: ImportJob) -> RowsProgress:
    """Where the import tells how many rows it has applied: the shared cache, which a
    watcher reads at once (selectors.import_job_rows). The job's own row cannot carry it:
    the import's transaction holds that row locked, and shows nothing before it commits.
    The apply reports once per batch of rows, so this writes at most once per 1,000 rows."""
    cache = caches[settings.SHARED_CACHE_ALIAS]
    key = import_job_rows_key(job.pk, job.deliveries)

    def report(applied: int, total: int) -> None:
        cache.set(key, (applied, total), timeout=settings.IMPORT_JOB_LEASE_S)

    return report


def _rows_forget(job: ImportJob) -> None:
    caches[settings.SHARED_CACHE_ALIAS].delete(import_job_rows_key(job.pk, job.deliveries))


def _result(outcome: ImportOutcome) -> dict[str, object]:
    """What a synchronous import answers with (a preview waits for a choice instead)."""
    answer = outcome.as_dict()
    del answer["preview"]
    return answer


@transaction.atomic
def _take(job_id: int) -> ImportJob | None:
    job = (
        # Only the job's row: PostgreSQL locks no row of an outer join (created_by may be null).
        ImportJob.objects.select_for_update(of=("self",))
        .select_related("project", "created_by")
        .filter(pk=job_id, status=ImportJob.Status.QUEUED)
        .first()
    )
    if job is None:
        return None
    now = timezone.now()
    job.status = ImportJob.Status.RUNNING
    job.stage = "reading the file"
    job.progress = STAGES[job.stage]
    job.deliveries += 1
    job.started_at = job.started_at or now
    job.lease_expires_at = _lease(now)
    job.save(
        update_fields=[
            "status",
            "stage",
            "progress",
            "deliveries",
            "started_at",
            "lease_expires_at",
        ]
    )
    return job


def _stage(job: ImportJob, stage: str) -> None:
    job.stage, job.progress = stage, STAGES[stage]
    ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(
        stage=job.stage, progress=job.progress
    )


def _finish(job: ImportJob, *, result: dict[str, object]) -> None:
    job.status, job.stage, job.progress = ImportJob.Status.SUCCEEDED, "done", 100
    job.result = result
    job.finished_at = timezone.now()
    job.lease_expires_at = None
    job.data = b""
    job.full_clean(exclude=["data"])
    job.save(
        update_fields=[
            "status", "stage", "progress", "result", "finished_at", "lease_expires_at", "data"
        ]
    )  # fmt: skip


@transaction.atomic
def _fail(job: ImportJob, *, error: str, file: str = "", line: int | None = None) -> None:
    """Record why the job failed; nothing of its plan was written."""
    updated = ImportJob.objects.filter(
        pk=job.pk, status=ImportJob.Status.RUNNING, deliveries=job.deliveries
    ).update(
        status=ImportJob.Status.FAILED,
        stage="failed",
        progress=100,
        error=error,
        error_file=file[:1000],
        error_line=line,
        finished_at=timezone.now(),
        lease_expires_at=None,
        data=b"",
    )
    if updated:
        job.refresh_from_db()


def import_jobs_recover(*, now: datetime | None = None) -> int:
    """Periodic: send again the jobs queued for QUEUED_RESEND_S whose message never
    reached a worker, deliver again (or, past IMPORT_JOB_MAX_DELIVERIES, fail) the jobs
    whose worker died, and drop previewed files that waited a day for a choice. Returns
    how many jobs it acted on."""
    now = now or timezone.now()
    stale = ImportJob.objects.filter(
        status__in=[
            ImportJob.Status.QUEUED,
            ImportJob.Status.RUNNING,
            ImportJob.Status.AWAITING_CHOICE,
        ],
        lease_expires_at__lt=now,
    ).values_list("pk", flat=True)
    acted = 0
    for job_id in list(stale[:100]):
        acted += _recover(job_id, now=now)
    return acted


@transaction.atomic
def _recover(job_id: int, *, now: datetime) -> int:
    job = (
        ImportJob.objects.select_for_update()
        .filter(
            pk=job_id,
            status__in=[
                ImportJob.Status.QUEUED,
                ImportJob.Status.RUNNING,
                ImportJob.Status.AWAITING_CHOICE,
            ],
            lease_expires_at__lt=now,
        )
        .first()
    )
    if job is None:
        return 0
    if job.status == ImportJob.Status.AWAITING_CHOICE:
        job.status, job.stage, job.progress = ImportJob.Status.FAILED, "failed", 100
        job.error = (
            "No choice was made within a day, so the file was dropped; nothing was imported."
        )
        job.finished_at, job.lease_expires_at, job.data = now, None, b""
        job.save(
            update_fields=[
                "status", "stage", "progress", "error", "finished_at", "lease_expires_at", "data",
            ]
        )  # fmt: skip
        return 1
    if job.status == ImportJob.Status.RUNNING:
        if job.deliveries >= settings.IMPORT_JOB_MAX_DELIVERIES:
            job.status, job.stage, job.progress = ImportJob.Status.FAILED, "failed", 100
            job.error = (
                f"The worker importing this file stopped {job.deliveries} times "
                "(killed, or out of memory); nothing was imported."
            )
            job.finished_at, job.lease_expires_at, job.data = now, None, b""
            job.save(
                update_fields=[
                    "status", "stage", "progress", "error", "finished_at", "lease_expires_at",
                    "data",
                ]
            )  # fmt: skip
            return 1
        job.status, job.stage, job.progress = ImportJob.Status.QUEUED, "queued", 0
    job.lease_expires_at = now + timedelta(seconds=settings.QUEUED_RESEND_S)
    job.save(update_fields=["status", "stage", "progress", "lease_expires_at"])
    _send(job)
    return 1
