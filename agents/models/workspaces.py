"""Where coding runs work and what they print: git worktrees and run logs."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.models import choices_constraint


class WorkspaceStatus(models.TextChoices):
    ACTIVE = "active"
    REMOVED = "removed"


class Workspace(models.Model):
    """A git worktree made for one coding attempt, on a branch of its own.

    Only agents/services/workspaces.py creates and removes them.
    """

    Status = WorkspaceStatus

    project = models.ForeignKey(
        "planning.Project", on_delete=models.CASCADE, related_name="workspaces", db_index=False
    )
    task = models.ForeignKey(
        "planning.Task",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="workspaces",
    )
    run = models.OneToOneField(
        "agents.AgentRun",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="workspace",
    )
    path = models.CharField(max_length=500)
    branch = models.CharField(max_length=200)
    base_branch = models.CharField(max_length=200)
    base_commit = models.CharField(max_length=64, blank=True)
    # The machine whose disk holds the worktree (its worker's host queue serves the run).
    host = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=20, choices=Status, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    removed_at = models.DateTimeField(null=True, blank=True)
    removal_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            choices_constraint("status", WorkspaceStatus, name="workspace_status_valid"),
            # One live worktree per folder; a removed one's folder may be used again.
            models.UniqueConstraint(
                fields=["path"], condition=Q(status="active"), name="workspace_active_path_unique"
            ),
            models.CheckConstraint(
                condition=(Q(status="removed") & Q(removed_at__isnull=False))
                | (Q(status="active") & Q(removed_at__isnull=True)),
                name="workspace_removed_at_matches_status",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "status"], name="workspace_project_idx"),
            models.Index(fields=["status", "host"], name="workspace_host_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.branch} at {self.path}"


class RunLogStream(models.TextChoices):
    STDOUT = "stdout"
    STDERR = "stderr"
    SYSTEM = "system"


class RunLogChunk(models.Model):
    """A piece of a run's log, in order: logs grow by new rows, never by rewriting one."""

    Stream = RunLogStream

    run = models.ForeignKey(
        "agents.AgentRun", on_delete=models.CASCADE, related_name="log_chunks", db_index=False
    )
    seq = models.PositiveIntegerField()
    stream = models.CharField(max_length=10, choices=Stream, default=Stream.STDOUT)
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["run", "seq"], name="runlogchunk_seq_unique"),
            models.CheckConstraint(condition=Q(seq__gte=1), name="runlogchunk_seq_gte_1"),
            choices_constraint("stream", RunLogStream, name="runlogchunk_stream_valid"),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} log #{self.seq}"
