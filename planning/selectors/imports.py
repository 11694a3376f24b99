"""Import jobs and the rows a worker has applied."""

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.db.models import (
    QuerySet,
)
from django.shortcuts import get_object_or_404

from planning.models import (
    ImportJob,
    Project,
)


def import_job_list(*, project: Project) -> QuerySet[ImportJob]:
    """The project's import jobs, newest first, without their stored files."""
    return (
        ImportJob.objects.filter(project=project)
        .select_related("project", "created_by")
        .defer("data")
        .order_by("-created_at", "-pk")
    )


def import_job_get(*, project: Project, job_id: int) -> ImportJob:
    """Raises Http404 for a job of another project."""
    return get_object_or_404(import_job_list(project=project), pk=job_id)


# Between the stage "importing" (20) and "done" (100): applying the rows, then the version.
IMPORT_ROWS_PERCENT = (20, 95)


@dataclass(frozen=True)
class ImportRows:
    """How far a worker has got applying an import job's file, by row."""

    applied: int
    total: int

    @property
    def percent(self) -> int:
        low, high = IMPORT_ROWS_PERCENT
        return low + (high - low) * min(self.applied, self.total) // max(self.total, 1)


def import_job_rows_key(job_id: int, delivery: int) -> str:
    # By delivery: a job delivered again starts from nothing, not from the dead worker's count.
    return f"planning:import-job:{job_id}:{delivery}:rows"


def import_job_rows(*, job: ImportJob) -> ImportRows | None:
    """The rows a worker has applied of a running job's file so far, and how many there
    are; None while it reads and parses the file, and once the job has ended.

    The import writes the plan in one transaction, which no other connection sees until
    it commits, so the worker reports its count through the shared cache instead.
    """
    if job.status != ImportJob.Status.RUNNING:
        return None
    found = caches[settings.SHARED_CACHE_ALIAS].get(import_job_rows_key(job.pk, job.deliveries))
    if not isinstance(found, tuple | list) or len(found) != 2:
        return None
    return ImportRows(applied=int(found[0]), total=int(found[1]))
