"""Agents, their runs, and the audit trail they leave.

`ToolCall`, `DecisionLog`, `PlanningCycle` and `Metric` are append-only: the database
rejects UPDATE and DELETE on them (triggers installed by migration 0002). Anything they
point at is protected from deletion, or linked without a database constraint where the
target (a task) may legitimately disappear from a later plan version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models
from django.db.models import Q
from django.utils import timezone

from agents import shapes
from core.models import TimeStampedModel, choices_constraint
from core.shapes import ShapedJsonModel
from planning.models import Executor

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
            models.Index(fields=["status", "lease_expires_at"], name="agentrun_lease_idx"),
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


from agents.models.reviews import Merge, Review, ReviewComment  # noqa: E402
from agents.models.workspaces import RunLogChunk, Workspace  # noqa: E402

__all__ = [
    "Agent",
    "AgentRun",
    "AgentState",
    "AgentStep",
    "Checkpoint",
    "DecisionLog",
    "Merge",
    "Metric",
    "PlanningCycle",
    "Review",
    "ReviewComment",
    "RunLogChunk",
    "ToolCall",
    "Workspace",
]
