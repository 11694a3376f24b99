"""Agents: the built-in, CLI and external workers of a project."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from agents import shapes
from core.models import TimeStampedModel, choices_constraint
from core.shapes import ShapedJsonModel
from planning.models import Executor


class AgentType(models.TextChoices):
    PLANNER = "planner"
    CODER = "coder"
    TESTER = "tester"
    REVIEWER = "reviewer"
    MERGER = "merger"
    EXTERNAL = "external"


class AgentStatus(models.TextChoices):
    IDLE = "idle"
    BUSY = "busy"
    OFFLINE = "offline"
    TERMINATED = "terminated"


class Agent(ShapedJsonModel, TimeStampedModel):
    json_shapes = {"executor_command": shapes.AGENT_EXECUTOR_COMMAND}

    Type = AgentType

    Status = AgentStatus

    # Agents the orchestrator never hands tasks to: external ones claim their own work,
    # and the planner only plans.
    NOT_DISPATCHED_TYPES = (AgentType.EXTERNAL, AgentType.PLANNER)

    project = models.ForeignKey(
        "planning.Project", on_delete=models.CASCADE, related_name="agents", db_index=False
    )
    name = models.CharField(max_length=100)
    type = models.CharField(max_length=20, choices=Type)
    status = models.CharField(max_length=20, choices=Status, default=Status.IDLE)
    current_task = models.ForeignKey(
        "planning.Task",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="current_agents",
    )
    worktree_path = models.CharField(max_length=500, blank=True)
    branch_name = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=200, blank=True)
    executor = models.CharField(
        max_length=20,
        choices=Executor,
        default=Executor.BUILTIN,
        help_text="The built-in step loop, or the coding CLI that does this agent's work.",
    )
    executor_command = models.JSONField(
        default=list,
        blank=True,
        help_text="For the `command` executor: an argv template, with {prompt_file} and "
        "{worktree} placeholders.",
    )
    spawned_at = models.DateTimeField(default=timezone.now)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    terminated_at = models.DateTimeField(null=True, blank=True)
    termination_reason = models.TextField(blank=True)
    may_add_tasks = models.BooleanField(
        default=False,
        help_text="An external agent may add the tasks, subtasks and dependencies it "
        "discovers, and edit tasks, through its key.",
    )
    # External agents authenticate with a key shown once; only its hash is kept.
    api_key_hash = models.CharField(max_length=128, blank=True)
    api_key_prefix = models.CharField(max_length=16, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="agent_name_unique"),
            choices_constraint("type", AgentType, name="agent_type_valid"),
            choices_constraint("status", AgentStatus, name="agent_status_valid"),
            choices_constraint("executor", Executor, name="agent_executor_valid"),
            models.CheckConstraint(
                condition=(Q(status="terminated") & Q(terminated_at__isnull=False))
                | (~Q(status="terminated") & Q(terminated_at__isnull=True)),
                name="agent_terminated_at_matches_status",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "status"], name="agent_status_idx"),
            # Meta indexes rather than db_index/unique on the fields: no second, LIKE-pattern
            # index on PostgreSQL for columns only ever compared for equality.
            models.Index(fields=["api_key_hash"], name="agent_api_key_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.type})"
