"""Plan files a worker imports."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.models import choices_constraint
from core.shapes import ShapedJsonModel
from planning import shapes
from planning.models.projects import Project


class ImportJobStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    # A file from another source than the plan: its preview waits for replace or merge.
    AWAITING_CHOICE = "awaiting_choice", "Waiting for your choice"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ImportJob(ShapedJsonModel):
    """A plan file too large to import while its request waits: stored here, then parsed
    and applied by a Celery worker. Only `planning.services.import_jobs` changes one."""

    Status = ImportJobStatus
    FINISHED_STATUSES = (Status.SUCCEEDED, Status.FAILED)

    json_shapes = {"result": shapes.IMPORT_JOB_RESULT}

    # Its index is import_job_project_idx's leading column.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="import_jobs", db_index=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    file_name = models.CharField(max_length=255)
    format = models.CharField(max_length=20, default="auto")
    # As the import service's mode: with "ask", a file from another source than the plan
    # waits with its preview (awaiting_choice) until replace or merge is chosen.
    mode = models.CharField(max_length=10, default="ask")
    # The upload until the job has finished; emptied then, so the table keeps no plans.
    data = models.BinaryField(default=b"")
    size = models.PositiveBigIntegerField(default=0)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(max_length=40, default="queued")
    progress = models.PositiveSmallIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    error_file = models.CharField(max_length=1000, blank=True, default="")
    error_line = models.PositiveIntegerField(null=True, blank=True)
    deliveries = models.PositiveSmallIntegerField(default=0)
    # Queued: when the sweep sends the message again; running: when the worker is
    # taken for dead (its time limit is shorter); awaiting a choice: when it is dropped.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            choices_constraint("status", ImportJobStatus, name="import_job_status_valid"),
            models.CheckConstraint(
                condition=Q(progress__lte=100), name="import_job_progress_percent"
            ),
        ]
        indexes = [
            # The sweep: unfinished jobs whose lease ran out.
            models.Index(fields=["status", "lease_expires_at"], name="import_job_sweep_idx"),
            models.Index(fields=["project", "-created_at"], name="import_job_project_idx"),
        ]

    def __str__(self) -> str:
        return f"import {self.pk} of {self.file_name} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED_STATUSES

    @property
    def in_progress(self) -> bool:
        """Queued or running: what a status page keeps polling for."""
        return self.status in (ImportJobStatus.QUEUED, ImportJobStatus.RUNNING)

    @property
    def finished_result(self) -> dict[str, Any] | None:
        """What the import did, once it succeeded."""
        return self.result if self.status == ImportJobStatus.SUCCEEDED else None
