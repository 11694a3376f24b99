"""What agents keep between runs: checkpoints of a project, and a key-value store."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from agents import shapes
from core.shapes import ShapedJsonModel


class Checkpoint(ShapedJsonModel):
    json_shapes = {"state": shapes.CHECKPOINT_STATE}

    project = models.ForeignKey(
        "planning.Project", on_delete=models.CASCADE, related_name="checkpoints", db_index=False
    )
    name = models.CharField(max_length=200)
    reason = models.TextField(blank=True)
    state = models.JSONField(default=dict, blank=True)
    git_commit = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"], name="checkpoint_project_idx")]

    def __str__(self) -> str:
        return self.name


class AgentState(ShapedJsonModel):
    """A JSON key-value store. Keys are unique per namespace within a project, or globally."""

    json_shapes = {"value": shapes.AGENT_STATE_VALUE}

    project = models.ForeignKey(
        "planning.Project",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="agent_state",
        db_index=False,
    )
    namespace = models.CharField(max_length=200)
    key = models.CharField(max_length=200)
    value = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["namespace", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "namespace", "key"],
                condition=Q(project__isnull=False),
                name="agentstate_key_unique_in_project",
            ),
            models.UniqueConstraint(
                fields=["namespace", "key"],
                condition=Q(project__isnull=True),
                name="agentstate_key_unique_global",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.namespace}/{self.key}"
