"""A project's plan and its immutable versions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.fields import DocumentJSONField
from core.models import TimeStampedModel
from core.shapes import ShapedJsonModel
from planning import shapes
from planning.models.projects import Project


class DevPlan(TimeStampedModel):
    DEFAULT_NAME = "Main plan"

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="dev_plans", db_index=False
    )
    name = models.CharField(max_length=200, default=DEFAULT_NAME)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="devplan_name_unique")
        ]

    def __str__(self) -> str:
        return f"{self.project}: {self.name}"


class DevPlanVersion(ShapedJsonModel):
    """An immutable snapshot of a plan. In the database, the content columns reject
    UPDATE and the rows reject DELETE and TRUNCATE: like the audit log, a saved version
    keeps its plan (and project) from being deleted."""

    json_shapes = {
        "snapshot": shapes.PLAN_SNAPSHOT,
        "source_identities": shapes.VERSION_SOURCE_IDENTITIES,
    }

    plan = models.ForeignKey(
        DevPlan, on_delete=models.PROTECT, related_name="versions", db_index=False
    )
    number = models.PositiveIntegerField()
    # Written once, read whole, never queried inside: PostgreSQL keeps its text (`json`).
    snapshot = DocumentJSONField()
    # {kind: {key: source identity}}: lets a restore give back rows their identities.
    # Nullable with no default, so that SQLite adds the column in place: rebuilding the
    # table would drop its guard triggers. Versions saved before it read as {}.
    source_identities = models.JSONField(null=True, blank=True)
    markdown = models.TextField(blank=True)
    change_summary = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="plan_versions",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["plan", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "number"], name="devplanversion_number_unique"),
            models.CheckConstraint(condition=Q(number__gte=1), name="devplanversion_number_gte_1"),
        ]

    def shaped_source_identities(self) -> dict[str, dict[str, str]]:
        if self.source_identities is None:
            return {}
        identities: dict[str, dict[str, str]] = shapes.VERSION_SOURCE_IDENTITIES.tolerant(
            self.source_identities, default=dict, where=f"version {self.number}"
        )
        return identities

    def __str__(self) -> str:
        return f"{self.plan} v{self.number}"
