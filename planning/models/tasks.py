"""Tasks and the dependencies between them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from core.models import TimeStampedModel, choices_constraint
from core.shapes import ShapedJsonModel
from core.text import natural_sort_key, validate_no_control_characters
from planning import shapes
from planning.models.features import Feature, SubFeature
from planning.models.projects import Priority, Project

PRIORITY_RANK = models.Case(
    models.When(priority=Priority.HIGH, then=models.Value(0)),
    models.When(priority=Priority.MEDIUM, then=models.Value(1)),
    default=models.Value(2),
)


class TaskType(models.TextChoices):
    AUTO = "auto"
    HUMAN_VERIFY = "checkpoint:human-verify"
    DECISION = "checkpoint:decision"
    HUMAN_ACTION = "checkpoint:human-action"
    TDD = "tdd"


class TaskStatus(models.TextChoices):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    REVIEW = "review"
    BLOCKED = "blocked"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DEFERRED = "deferred"


class TaskSize(models.TextChoices):
    ATOMIC = "atomic"
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


class Task(ShapedJsonModel, TimeStampedModel):
    json_shapes = {"files": shapes.TASK_FILES, "extra": shapes.TASK_EXTRA}

    Type = TaskType

    Status = TaskStatus

    Size = TaskSize

    Priority = Priority

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="tasks", db_index=False
    )
    feature = models.ForeignKey(
        Feature, on_delete=models.CASCADE, null=True, blank=True, related_name="tasks"
    )
    sub_feature = models.ForeignKey(
        SubFeature,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="tasks",
        db_index=False,
    )
    key = models.CharField(max_length=50, validators=[validate_no_control_characters])
    # The key with its numbers made comparable as text (`2` < `10`, `1.2` < `1.10`), set on
    # every write, so lists and `next` sort naturally off an index.
    sort_key = models.CharField(max_length=150, editable=False, default="")
    # A Task Master subtask's task: `12.3` belongs to `12`.
    parent = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="subtasks",
    )
    name = models.CharField(max_length=300)
    description = models.TextField(blank=True, help_text="What to do: the GSD <action>.")
    files = models.JSONField(default=list, blank=True)
    verify = models.TextField(blank=True)
    done_criteria = models.TextField(blank=True)
    type = models.CharField(max_length=30, choices=Type, default=Type.AUTO)
    status = models.CharField(max_length=20, choices=Status, default=Status.PENDING)
    size = models.CharField(max_length=10, choices=Size, default=Size.SMALL)
    priority = models.CharField(max_length=10, choices=Priority, default=Priority.MEDIUM)
    # Stored so "next task" can walk one index in order instead of sorting in Python.
    priority_rank = models.GeneratedField(
        expression=PRIORITY_RANK, output_field=models.SmallIntegerField(), db_persist=True
    )
    complexity = models.PositiveSmallIntegerField(null=True, blank=True)
    wave = models.PositiveSmallIntegerField(default=1)
    # The wave as `next` orders by it: only tasks of a plan (GSD, generated) go wave by
    # wave; Task Master orders its tasks by priority, dependency count and id alone.
    next_wave = models.GeneratedField(
        expression=models.Case(
            models.When(sub_feature__isnull=True, then=models.Value(0)),
            default=F("wave"),
            output_field=models.SmallIntegerField(),
        ),
        output_field=models.SmallIntegerField(),
        db_persist=True,
    )
    position = models.PositiveIntegerField(default=0)
    extra = models.JSONField(default=dict, blank=True)
    # Where an import found it ("<format>:<source>|<scope>|<item>"), so a re-import finds
    # it again by that, not by its key or place. Empty for rows made here.
    source_identity = models.CharField(max_length=1000, blank=True, default="")
    depends_on: models.ManyToManyField[Task, TaskDependency] = models.ManyToManyField(
        "self",
        through="TaskDependency",
        symmetrical=False,
        related_name="dependents",
        blank=True,
    )

    assigned_agent = models.ForeignKey(
        "agents.Agent",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tasks",
    )
    worktree_path = models.CharField(max_length=500, blank=True)
    branch_name = models.CharField(max_length=200, blank=True)
    qa_iterations = models.PositiveIntegerField(default=0)
    max_iterations = models.PositiveIntegerField(default=50)
    estimated_minutes = models.PositiveIntegerField(default=15)
    actual_minutes = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Who did the work, kept after the task is done (assigned_agent is cleared then).
    coded_by = models.ForeignKey(
        "agents.Agent",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="coded_tasks",
    )
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="merged_tasks",
    )
    merged_by_agent = models.ForeignKey(
        "agents.Agent",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="merged_tasks",
    )
    merge_commit = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["position", "sort_key"]
        constraints = [
            models.UniqueConstraint(fields=["project", "key"], name="task_key_unique"),
            models.CheckConstraint(condition=~Q(parent=F("pk")), name="task_parent_not_self"),
            choices_constraint("type", TaskType, name="task_type_valid"),
            choices_constraint("status", TaskStatus, name="task_status_valid"),
            choices_constraint("size", TaskSize, name="task_size_valid"),
            choices_constraint("priority", Priority, name="task_priority_valid"),
            models.CheckConstraint(
                condition=Q(complexity__isnull=True) | Q(complexity__gte=1, complexity__lte=10),
                name="task_complexity_1_to_10",
            ),
            models.CheckConstraint(
                condition=Q(qa_iterations__lte=F("max_iterations")),
                name="task_qa_iterations_within_max",
            ),
            models.CheckConstraint(condition=Q(wave__gte=1), name="task_wave_positive"),
            models.CheckConstraint(
                condition=Q(sub_feature__isnull=True) | Q(feature__isnull=False),
                name="task_sub_feature_needs_feature",
            ),
            models.CheckConstraint(
                condition=Q(completed_at__isnull=True)
                | Q(started_at__isnull=True)
                | Q(completed_at__gte=F("started_at")),
                name="task_completed_after_started",
            ),
        ]
        indexes = [
            models.Index(
                fields=["project", "status", "priority_rank", "next_wave", "sort_key"],
                name="task_next_ready_idx",
            ),
            models.Index(
                fields=["sub_feature", "position", "sort_key"], name="task_plan_order_idx"
            ),
            # The change stamp live pages poll (planning.outline.plan_stamp): count and
            # latest updated_at of a project's tasks, read off the index alone.
            models.Index(fields=["project", "updated_at"], name="task_change_stamp_idx"),
            # A claim's first questions: is a task assigned to this agent waiting for it,
            # and is a subtask of a task in progress waiting? Usually not, and these
            # answer that off a few entries, even in a prepared statement's generic plan
            # (which task_next_ready_idx would answer by reading every pending task).
            # Partial, so that most tasks, and every claimed one, have no entry in them.
            models.Index(
                fields=["project", "assigned_agent"],
                condition=Q(status=TaskStatus.PENDING, assigned_agent__isnull=False),
                name="task_assigned_pending_idx",
            ),
            models.Index(
                fields=["project", "parent"],
                condition=Q(status=TaskStatus.PENDING, parent__isnull=False),
                name="task_pending_subtask_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.name}"

    # For readers: a value saved before its shape was checked reads as empty, with a warning.
    def shaped_files(self) -> list[str]:
        files: list[str] = shapes.TASK_FILES.tolerant(
            self.files, default=list, where=f"task {self.key}"
        )
        return files

    def shaped_extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = shapes.TASK_EXTRA.tolerant(
            self.extra, default=dict, where=f"task {self.key}"
        )
        return extra

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.sort_key = natural_sort_key(self.key)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "key" in update_fields:
            kwargs["update_fields"] = {*update_fields, "sort_key"}
        super().save(*args, **kwargs)

    @property
    def needs_human(self) -> bool:
        return self.type.startswith("checkpoint:")


class TaskDependency(models.Model):
    """`task` cannot start before `depends_on` is done."""

    task = models.ForeignKey(
        Task, on_delete=models.CASCADE, related_name="dependency_edges", db_index=False
    )
    depends_on = models.ForeignKey(
        Task, on_delete=models.CASCADE, related_name="dependent_edges", db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "task dependencies"
        constraints = [
            models.UniqueConstraint(fields=["task", "depends_on"], name="task_dependency_unique"),
            models.CheckConstraint(
                condition=~Q(task=F("depends_on")), name="task_dependency_not_self"
            ),
        ]
        indexes = [models.Index(fields=["depends_on", "task"], name="task_dependents_idx")]

    def __str__(self) -> str:
        return f"{self.task_id} -> {self.depends_on_id}"
