"""Features and sub-features (a GSD phase and plan), with their dependencies."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from core.models import TimeStampedModel, choices_constraint
from core.shapes import ShapedJsonModel
from core.text import validate_no_control_characters
from planning import shapes
from planning.models.projects import Priority, Project, Requirement


class WorkStatus(models.TextChoices):
    BACKLOG = "backlog"
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELLED = "cancelled"


class Feature(TimeStampedModel):
    """A deliverable slice of the project: a GSD phase."""

    Status = WorkStatus

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="features", db_index=False
    )
    key = models.CharField(max_length=50, validators=[validate_no_control_characters])
    name = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    priority = models.CharField(max_length=10, choices=Priority, default=Priority.MEDIUM)
    status = models.CharField(max_length=20, choices=WorkStatus, default=WorkStatus.BACKLOG)
    position = models.PositiveIntegerField(default=0)
    # Where an import found it ("<format>:<source>|<scope>|<item>"), so a re-import finds
    # it again by that, not by its key or place. Empty for rows made here.
    source_identity = models.CharField(max_length=1000, blank=True, default="")

    class Meta:
        ordering = ["position", "key"]
        constraints = [
            models.UniqueConstraint(fields=["project", "key"], name="feature_key_unique"),
            choices_constraint("priority", Priority, name="feature_priority_valid"),
            choices_constraint("status", WorkStatus, name="feature_status_valid"),
        ]
        indexes = [models.Index(fields=["project", "position", "key"], name="feature_order_idx")]

    def __str__(self) -> str:
        return f"{self.key} {self.name}"


class SubFeature(ShapedJsonModel, TimeStampedModel):
    """A plan inside a feature (a GSD `NN-MM-PLAN.md`)."""

    json_shapes = {
        "files_modified": shapes.SUB_FEATURE_FILES_MODIFIED,
        "must_haves": shapes.SUB_FEATURE_MUST_HAVES,
        "extra": shapes.SUB_FEATURE_EXTRA,
    }

    Status = WorkStatus

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="sub_features", db_index=False
    )
    feature = models.ForeignKey(
        Feature, on_delete=models.CASCADE, related_name="sub_features", db_index=False
    )
    key = models.CharField(max_length=50, validators=[validate_no_control_characters])
    name = models.CharField(max_length=300)
    objective = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=WorkStatus, default=WorkStatus.PLANNED)
    wave = models.PositiveSmallIntegerField(default=1)
    autonomous = models.BooleanField(default=True)
    files_modified = models.JSONField(default=list, blank=True)
    must_haves = models.JSONField(default=dict, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    position = models.PositiveIntegerField(default=0)
    # Where an import found it ("<format>:<source>|<scope>|<item>"), so a re-import finds
    # it again by that, not by its key or place. Empty for rows made here.
    source_identity = models.CharField(max_length=1000, blank=True, default="")
    requirements = models.ManyToManyField(Requirement, related_name="sub_features", blank=True)
    depends_on: models.ManyToManyField[SubFeature, SubFeatureDependency] = models.ManyToManyField(
        "self",
        through="SubFeatureDependency",
        symmetrical=False,
        related_name="dependents",
        blank=True,
    )

    class Meta:
        verbose_name = "sub-feature"
        ordering = ["position", "key"]
        constraints = [
            models.UniqueConstraint(fields=["project", "key"], name="subfeature_key_unique"),
            choices_constraint("status", WorkStatus, name="subfeature_status_valid"),
            models.CheckConstraint(condition=Q(wave__gte=1), name="subfeature_wave_positive"),
        ]
        indexes = [models.Index(fields=["feature", "position", "key"], name="subfeature_order_idx")]

    def __str__(self) -> str:
        return f"{self.key} {self.name}"

    # For readers: a value saved before its shape was checked reads as empty, with a warning.
    def shaped_files_modified(self) -> list[str]:
        files: list[str] = shapes.SUB_FEATURE_FILES_MODIFIED.tolerant(
            self.files_modified, default=list, where=f"plan {self.key}"
        )
        return files

    def shaped_must_haves(self) -> dict[str, Any]:
        must_haves: dict[str, Any] = shapes.SUB_FEATURE_MUST_HAVES.tolerant(
            self.must_haves, default=dict, where=f"plan {self.key}"
        )
        return must_haves

    def shaped_extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = shapes.SUB_FEATURE_EXTRA.tolerant(
            self.extra, default=dict, where=f"plan {self.key}"
        )
        return extra


class SubFeatureDependency(models.Model):
    sub_feature = models.ForeignKey(
        SubFeature, on_delete=models.CASCADE, related_name="dependency_edges", db_index=False
    )
    depends_on = models.ForeignKey(
        SubFeature, on_delete=models.CASCADE, related_name="dependent_edges"
    )

    class Meta:
        verbose_name = "sub-feature dependency"
        verbose_name_plural = "sub-feature dependencies"
        constraints = [
            models.UniqueConstraint(
                fields=["sub_feature", "depends_on"], name="subfeature_dependency_unique"
            ),
            models.CheckConstraint(
                condition=~Q(sub_feature=F("depends_on")), name="subfeature_dependency_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sub_feature_id} -> {self.depends_on_id}"


class ExternalDependency(models.Model):
    """A plan's dependency on a plan outside the project (a GSD `depends_on` naming a
    plan the import did not hold). It holds the plan's tasks back, as an unfinished plan
    would, until a person marks it satisfied."""

    sub_feature = models.ForeignKey(
        SubFeature, on_delete=models.CASCADE, related_name="external_dependencies", db_index=False
    )
    reference = models.CharField(max_length=300)
    satisfied_at = models.DateTimeField(null=True, blank=True)
    satisfied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = "external dependency"
        verbose_name_plural = "external dependencies"
        ordering = ["reference"]
        constraints = [
            models.UniqueConstraint(
                fields=["sub_feature", "reference"], name="external_dependency_unique"
            ),
            models.CheckConstraint(
                condition=Q(satisfied_by__isnull=True) | Q(satisfied_at__isnull=False),
                name="external_dependency_satisfied_by_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sub_feature_id} -> {self.reference} (outside)"

    @property
    def satisfied(self) -> bool:
        return self.satisfied_at is not None
