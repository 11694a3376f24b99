"""The audit trail agents leave: tool calls, planning cycles, decisions and metrics.

These tables are append-only: the database rejects UPDATE and DELETE on them (triggers
installed by migration 0003). Anything they point at is protected from deletion, or
linked without a database constraint where the target (a task) may legitimately
disappear from a later plan version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models
from django.db.models import Q
from django.utils import timezone

from agents import shapes
from agents.models.agents import Agent
from agents.models.runs import AgentRun
from core.models import choices_constraint
from core.shapes import ShapedJsonModel

if TYPE_CHECKING:
    from planning.models import Task


def _audit_task_link(related_name: str) -> models.ForeignKey[Task | None, Task | None]:
    # A log row keeps the id of the task it was about even after a plan edit removes it.
    return models.ForeignKey(
        "planning.Task",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name=related_name,
    )


class ToolCallStatus(models.TextChoices):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ToolCall(ShapedJsonModel):
    """Append-only. A "started" row (no parent), then one completion row pointing at it."""

    json_shapes = {"input": shapes.TOOL_CALL_INPUT, "output": shapes.TOOL_CALL_OUTPUT}

    Status = ToolCallStatus

    project = models.ForeignKey(
        "planning.Project", on_delete=models.PROTECT, related_name="tool_calls", db_index=False
    )
    agent = models.ForeignKey(
        Agent, on_delete=models.PROTECT, null=True, blank=True, related_name="tool_calls"
    )
    run = models.ForeignKey(
        AgentRun,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tool_calls",
        db_index=False,
    )
    task = _audit_task_link("tool_calls")
    started = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="completion",
        help_text="Set on completion rows: the started row this completes.",
    )
    step = models.PositiveIntegerField(
        null=True, blank=True, help_text="The run step whose model reply asked for this call."
    )
    call_id = models.CharField(
        max_length=100, blank=True, help_text="The model's id for the call within its step."
    )
    tool_name = models.CharField(max_length=100, blank=True)
    input = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=Status, blank=True)
    output = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(started__isnull=True)
                    & Q(status="")
                    & ~Q(tool_name="")
                    & Q(duration_ms__isnull=True)
                )
                | (Q(started__isnull=False) & Q(status__in=["succeeded", "failed"])),
                name="toolcall_started_or_completion",
            ),
            # A model's tool call is started once; a retried step reuses the row.
            models.UniqueConstraint(
                fields=["run", "step", "call_id"],
                condition=Q(started__isnull=True) & ~Q(call_id=""),
                name="toolcall_started_once_per_step_call",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "-id"], name="toolcall_project_idx"),
            models.Index(fields=["run", "id"], name="toolcall_run_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.tool_name or 'completion'} #{self.pk}"

    @property
    def is_completion(self) -> bool:
        return self.started_id is not None


class PlanningCycleStatus(models.TextChoices):
    ACTIVE = "active"
    COMPLETED = "completed"
    ABANDONED = "abandoned"


class PlanningCycle(ShapedJsonModel):
    """Append-only. An "active" row with goals, then one closing row with outcomes."""

    json_shapes = {"goals": shapes.CYCLE_GOALS, "outcomes": shapes.CYCLE_OUTCOMES}

    Status = PlanningCycleStatus

    project = models.ForeignKey(
        "planning.Project", on_delete=models.PROTECT, related_name="planning_cycles", db_index=False
    )
    agent = models.ForeignKey(
        Agent, on_delete=models.PROTECT, null=True, blank=True, related_name="planning_cycles"
    )
    run = models.ForeignKey(
        AgentRun, on_delete=models.PROTECT, null=True, blank=True, related_name="planning_cycles"
    )
    opened = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="closing",
        help_text="Set on closing rows: the active row this closes.",
    )
    status = models.CharField(max_length=20, choices=Status, default=Status.ACTIVE)
    goals = models.JSONField(default=list, blank=True)
    outcomes = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-id"]
        constraints = [
            choices_constraint("status", PlanningCycleStatus, name="planningcycle_status_valid"),
            models.CheckConstraint(
                condition=(Q(opened__isnull=True) & Q(status="active"))
                | (Q(opened__isnull=False) & Q(status__in=["completed", "abandoned"])),
                name="planningcycle_open_or_close",
            ),
        ]
        indexes = [models.Index(fields=["project", "-id"], name="planningcycle_project_idx")]

    def __str__(self) -> str:
        return f"planning cycle #{self.pk} ({self.status})"


class DecisionLog(ShapedJsonModel):
    """Append-only record of a decision and the reasoning behind it."""

    json_shapes = {"reasoning": shapes.DECISION_REASONING}

    project = models.ForeignKey(
        "planning.Project", on_delete=models.PROTECT, related_name="decisions", db_index=False
    )
    agent = models.ForeignKey(
        Agent, on_delete=models.PROTECT, null=True, blank=True, related_name="decisions"
    )
    run = models.ForeignKey(
        AgentRun, on_delete=models.PROTECT, null=True, blank=True, related_name="decisions"
    )
    task = _audit_task_link("decisions")
    planning_cycle = models.ForeignKey(
        PlanningCycle, on_delete=models.PROTECT, null=True, blank=True, related_name="decisions"
    )
    decision = models.TextField()
    reasoning = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(decision=""), name="decision_text_required")
        ]
        indexes = [models.Index(fields=["project", "-id"], name="decision_project_idx")]

    def __str__(self) -> str:
        return self.decision[:80]


class MetricType(models.TextChoices):
    TOKEN_USAGE = "token_usage"
    COST = "cost"
    LATENCY = "latency"
    TASK_DURATION = "task_duration"
    RUN_DURATION = "run_duration"
    QA_ITERATIONS = "qa_iterations"
    VERIFY_DURATION = "verify_duration"


class Metric(ShapedJsonModel):
    """Append-only measurement: tokens, cost, durations, QA iterations."""

    json_shapes = {"metadata": shapes.METRIC_METADATA}

    Type = MetricType

    project = models.ForeignKey(
        "planning.Project", on_delete=models.PROTECT, related_name="metrics", db_index=False
    )
    agent = models.ForeignKey(
        Agent, on_delete=models.PROTECT, null=True, blank=True, related_name="metrics"
    )
    run = models.ForeignKey(
        AgentRun, on_delete=models.PROTECT, null=True, blank=True, related_name="metrics"
    )
    task = _audit_task_link("metrics")
    type = models.CharField(max_length=30, choices=Type)
    value = models.FloatField()
    metadata = models.JSONField(default=dict, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        constraints = [choices_constraint("type", MetricType, name="metric_type_valid")]
        indexes = [
            models.Index(fields=["project", "type", "recorded_at"], name="metric_series_idx")
        ]

    def __str__(self) -> str:
        return f"{self.type}={self.value}"
