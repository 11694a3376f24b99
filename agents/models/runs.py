"""Runs, an agent's attempts at a task or a planning job, and their steps."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from agents import shapes
from agents.models.agents import Agent
from core.models import TimeStampedModel, choices_constraint
from core.shapes import ShapedJsonModel
from planning.models import Executor


class AgentRunKind(models.TextChoices):
    TASK = "task"
    PLANNING = "planning"
    REVIEW = "review"


class AgentRunStage(models.TextChoices):
    """Where a running coding attempt is: its worktree being made, the agent at work, or
    its checks running."""

    PREPARING = "preparing"
    CODING = "coding"
    VERIFYING = "verifying"


class AgentRunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class AgentRun(ShapedJsonModel, TimeStampedModel):
    """One attempt of an agent at a task or a planning job."""

    json_shapes = {"payload": shapes.RUN_PAYLOAD, "result": shapes.RUN_RESULT}

    Kind = AgentRunKind

    Status = AgentRunStatus

    Stage = AgentRunStage

    # A run is active until it ends; only agents/services/runs/ moves it between them.
    ACTIVE_STATUSES = (AgentRunStatus.QUEUED, AgentRunStatus.RUNNING)
    FINISHED_STATUSES = (AgentRunStatus.SUCCEEDED, AgentRunStatus.FAILED, AgentRunStatus.CANCELLED)

    project = models.ForeignKey(
        "planning.Project", on_delete=models.CASCADE, related_name="agent_runs", db_index=False
    )
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="runs")
    task = models.ForeignKey(
        "planning.Task", on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    kind = models.CharField(max_length=20, choices=Kind, default=Kind.TASK)
    status = models.CharField(max_length=20, choices=Status, default=Status.QUEUED)
    stage = models.CharField(max_length=20, choices=Stage, blank=True)
    attempt = models.PositiveIntegerField(default=1)
    worktree_path = models.CharField(max_length=500, blank=True)
    branch_name = models.CharField(max_length=200, blank=True)
    # The Celery queue of the host that holds the run's worktree: its steps go there.
    worker_queue = models.CharField(max_length=200, blank=True)
    # What carried the work out, as the agent's executor was when the run started (the
    # agent's may change later); blank for an external agent's claim.
    executor = models.CharField(max_length=20, choices=Executor, blank=True)
    # A coding CLI's run-scoped key (agents.keys): only its hash, cleared when the run ends.
    key_hash = models.CharField(max_length=128, blank=True, editable=False)
    idempotency_key = models.CharField(max_length=200)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True, help_text="What the run was asked to do.")
    result = models.JSONField(default=dict, blank=True, help_text="Progress and outcome.")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Per project: one project's keys never collide with (or reveal) another's.
            models.UniqueConstraint(
                fields=["project", "idempotency_key"], name="agentrun_idempotency_unique"
            ),
            choices_constraint("kind", AgentRunKind, name="agentrun_kind_valid"),
            choices_constraint("status", AgentRunStatus, name="agentrun_status_valid"),
            choices_constraint("stage", [*AgentRunStage.values, ""], name="agentrun_stage_valid"),
            choices_constraint("executor", [*Executor.values, ""], name="agentrun_executor_valid"),
            models.CheckConstraint(condition=Q(attempt__gte=1), name="agentrun_attempt_gte_1"),
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True)
                | Q(started_at__isnull=True)
                | Q(finished_at__gte=models.F("started_at")),
                name="agentrun_finished_after_started",
            ),
        ]
        indexes = [
            # The sweeps' way to running and queued runs, whose leases they compare. The
            # lease is left out of every index: renewed at each step and each report of a
            # run, it is then an update PostgreSQL can make in place (HOT), with no new
            # entry in any of the table's indexes.
            models.Index(fields=["status"], name="agentrun_status_idx"),
            models.Index(fields=["project", "-created_at"], name="agentrun_project_idx"),
            # The run an agent is working on; small, whatever the agent's history.
            models.Index(
                fields=["agent"], condition=Q(status="running"), name="agentrun_running_by_agent"
            ),
            # The attempts running their checks, which a live page's change stamp counts
            # per project on every poll.
            models.Index(
                fields=["project"],
                condition=Q(status="running", stage="verifying"),
                name="agentrun_verifying_idx",
            ),
            # Run keys are looked up by hash; only live runs hold one.
            models.Index(
                fields=["key_hash"], condition=~Q(key_hash=""), name="agentrun_key_hash_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.agent} ({self.status})"


class AgentStepStatus(models.TextChoices):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class AgentStep(ShapedJsonModel):
    """One step of a run: a model call and the tool calls it asked for.

    `(run, number)` is the step's idempotency key. The model's reply is stored before any
    tool runs, so a retried step replays the same tool calls instead of asking again.
    """

    json_shapes = {"reply": shapes.STEP_REPLY}

    Status = AgentStepStatus

    run = models.ForeignKey(
        AgentRun, on_delete=models.CASCADE, related_name="steps", db_index=False
    )
    number = models.PositiveIntegerField()
    status = models.CharField(
        max_length=20, choices=AgentStepStatus, default=AgentStepStatus.RUNNING
    )
    attempts = models.PositiveIntegerField(default=0)
    reply = models.JSONField(null=True, blank=True, help_text="The model's message, OpenAI-shaped.")
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "number"]
        constraints = [
            models.UniqueConstraint(fields=["run", "number"], name="agentstep_unique_number"),
            models.CheckConstraint(condition=Q(number__gte=1), name="agentstep_number_gte_1"),
            choices_constraint("status", AgentStepStatus, name="agentstep_status_valid"),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} step {self.number} ({self.status})"
