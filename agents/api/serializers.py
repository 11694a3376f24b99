from typing import Any

from rest_framework import serializers

from agents.models import (
    Agent,
    AgentRun,
    AgentState,
    Checkpoint,
    DecisionLog,
    Metric,
    PlanningCycle,
    ToolCall,
)
from planning.api.scoping import ProjectScopedRelatedFieldsMixin
from planning.models import Executor, Task


def _task_field() -> serializers.SlugRelatedField[Task]:
    return serializers.SlugRelatedField(
        slug_field="key",
        queryset=Task.objects.all(),
        required=False,
        allow_null=True,
        help_text="Task key, such as `01-08-T2`.",
    )


def _agent_field() -> serializers.PrimaryKeyRelatedField[Agent]:
    return serializers.PrimaryKeyRelatedField(
        queryset=Agent.objects.all(), required=False, allow_null=True
    )


def _run_field() -> serializers.PrimaryKeyRelatedField[AgentRun]:
    return serializers.PrimaryKeyRelatedField(
        queryset=AgentRun.objects.all(),
        required=False,
        allow_null=True,
        help_text="The run this belongs to; the agent and task default to the run's.",
    )


class AgentSerializer(ProjectScopedRelatedFieldsMixin, serializers.ModelSerializer[Agent]):
    scoped_related_fields = {"current_task": "project"}
    current_task = _task_field()
    executor_command = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        required=False,
        help_text="For the `command` executor: the argv to run, with {prompt_file} and "
        '{worktree} placeholders, e.g. ["./my-agent.sh", "{prompt_file}"].',
    )

    class Meta:
        model = Agent
        fields = [
            "id",
            "name",
            "type",
            "status",
            "current_task",
            "worktree_path",
            "branch_name",
            "model",
            "executor",
            "executor_command",
            "may_add_tasks",
            "spawned_at",
            "last_activity_at",
            "terminated_at",
            "termination_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "spawned_at",
            "last_activity_at",
            "terminated_at",
            "created_at",
            "updated_at",
        ]
        # Uniqueness is checked (and reported) by the service's full_clean.
        validators: list[Any] = []


class AgentRunSerializer(ProjectScopedRelatedFieldsMixin, serializers.ModelSerializer[AgentRun]):
    scoped_related_fields = {"agent": "project", "task": "project"}
    agent = serializers.PrimaryKeyRelatedField(queryset=Agent.objects.all())
    task = _task_field()
    idempotency_key = serializers.CharField(
        max_length=200,
        required=False,
        help_text="Retrying with the same key gives 409 instead of a second run; "
        "generated when omitted.",
    )
    # Declared: a read-only model field would lose its blank, and a run that has not
    # started yet has no executor.
    executor = serializers.ChoiceField(
        choices=Executor.choices,
        allow_blank=True,
        read_only=True,
        help_text="What carried the run out; empty until it starts.",
    )

    class Meta:
        model = AgentRun
        fields = [
            "id",
            "agent",
            "task",
            "kind",
            "status",
            "executor",
            "attempt",
            "idempotency_key",
            "lease_expires_at",
            "heartbeat_at",
            "started_at",
            "finished_at",
            "error",
            "payload",
            "result",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "status",
            "executor",
            "heartbeat_at",
            "started_at",
            "finished_at",
            "error",
            "payload",
            "result",
            "created_at",
            "updated_at",
        ]
        # The service answers a repeated idempotency key with 409; DRF's own unique
        # check would make it a 400 first.
        validators: list[Any] = []


class ToolCallCompletionSerializer(serializers.ModelSerializer[ToolCall]):
    class Meta:
        model = ToolCall
        fields = ["id", "status", "output", "error", "duration_ms", "created_at"]
        read_only_fields = fields


class ToolCallSerializer(ProjectScopedRelatedFieldsMixin, serializers.ModelSerializer[ToolCall]):
    """A tool call row. A started row carries its completion, or null while it runs."""

    scoped_related_fields = {"agent": "project", "run": "project", "task": "project"}
    agent = _agent_field()
    run = _run_field()
    task = _task_field()
    tool_name = serializers.CharField(max_length=100)
    status = serializers.ChoiceField(
        choices=ToolCall.Status.choices,
        allow_blank=True,
        read_only=True,
        help_text="How a completion row's call ended; empty on a started row.",
    )
    completion = ToolCallCompletionSerializer(read_only=True, allow_null=True)

    class Meta:
        model = ToolCall
        fields = [
            "id",
            "started",
            "agent",
            "run",
            "task",
            "tool_name",
            "input",
            "status",
            "output",
            "error",
            "duration_ms",
            "completion",
            "created_at",
        ]
        read_only_fields = [
            "id",
            "started",
            "status",
            "output",
            "error",
            "duration_ms",
            "created_at",
        ]


class ToolCallCompleteSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=ToolCall.Status.choices)
    output = serializers.JSONField(required=False, allow_null=True)
    error = serializers.CharField(required=False, allow_blank=True, default="")
    duration_ms = serializers.IntegerField(required=False, allow_null=True, min_value=0)


class PlanningCycleClosingSerializer(serializers.ModelSerializer[PlanningCycle]):
    class Meta:
        model = PlanningCycle
        fields = ["id", "status", "outcomes", "created_at"]
        read_only_fields = fields


class PlanningCycleSerializer(
    ProjectScopedRelatedFieldsMixin, serializers.ModelSerializer[PlanningCycle]
):
    """A planning cycle row. An active row carries its closing row, or null while open."""

    scoped_related_fields = {"agent": "project", "run": "project"}
    agent = _agent_field()
    run = _run_field()
    closing = PlanningCycleClosingSerializer(read_only=True, allow_null=True)

    class Meta:
        model = PlanningCycle
        fields = [
            "id",
            "opened",
            "agent",
            "run",
            "status",
            "goals",
            "outcomes",
            "closing",
            "created_at",
        ]
        read_only_fields = ["id", "opened", "status", "outcomes", "created_at"]


class PlanningCycleCloseSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(
        choices=[
            (PlanningCycle.Status.COMPLETED.value, PlanningCycle.Status.COMPLETED.label),
            (PlanningCycle.Status.ABANDONED.value, PlanningCycle.Status.ABANDONED.label),
        ]
    )
    outcomes = serializers.JSONField(required=False)


class DecisionSerializer(ProjectScopedRelatedFieldsMixin, serializers.ModelSerializer[DecisionLog]):
    scoped_related_fields = {
        "agent": "project",
        "run": "project",
        "task": "project",
        "planning_cycle": "project",
    }
    agent = _agent_field()
    run = _run_field()
    task = _task_field()
    planning_cycle = serializers.PrimaryKeyRelatedField(
        queryset=PlanningCycle.objects.filter(opened__isnull=True),
        required=False,
        allow_null=True,
        help_text="The cycle's active (opening) row.",
    )

    class Meta:
        model = DecisionLog
        fields = [
            "id",
            "agent",
            "run",
            "task",
            "planning_cycle",
            "decision",
            "reasoning",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]


class MetricSerializer(ProjectScopedRelatedFieldsMixin, serializers.ModelSerializer[Metric]):
    scoped_related_fields = {"agent": "project", "run": "project", "task": "project"}
    agent = _agent_field()
    run = _run_field()
    task = _task_field()

    class Meta:
        model = Metric
        fields = ["id", "agent", "run", "task", "type", "value", "metadata", "recorded_at"]
        read_only_fields = ["id"]


class CheckpointSerializer(serializers.ModelSerializer[Checkpoint]):
    """A checkpoint. Only the name and reason are written: the state and git commit are
    captured from the project when it is created, and never change."""

    class Meta:
        model = Checkpoint
        fields = ["id", "name", "reason", "state", "git_commit", "created_at"]
        read_only_fields = ["id", "state", "git_commit", "created_at"]


class BeforeAfterSerializer(serializers.Serializer[Any]):
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)


class CheckpointTaskChangeSerializer(serializers.Serializer[Any]):
    key = serializers.CharField()
    name = serializers.CharField(allow_blank=True)
    # DRF's serializer metaclass takes declared fields off the class, so this field does
    # not replace the serializer's `fields`, whatever the type checker sees.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=BeforeAfterSerializer(), help_text="Execution field → its value now and captured."
    )


class AgentStateEntrySerializer(serializers.Serializer[Any]):
    namespace = serializers.CharField()
    key = serializers.CharField()
    value = serializers.JSONField(allow_null=True)


class AgentStateChangeSerializer(serializers.Serializer[Any]):
    namespace = serializers.CharField()
    key = serializers.CharField()
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)


class CheckpointAgentStateDiffSerializer(serializers.Serializer[Any]):
    added = AgentStateEntrySerializer(many=True, help_text="Entries a restore creates.")
    removed = AgentStateEntrySerializer(many=True, help_text="Entries a restore deletes.")
    changed = AgentStateChangeSerializer(many=True)


class CheckpointCommitSerializer(serializers.Serializer[Any]):
    before = serializers.CharField(
        allow_blank=True, help_text="The commit of the project's root_path now; empty: none."
    )
    after = serializers.CharField(
        allow_blank=True, help_text="The commit when the checkpoint was taken."
    )
    changed = serializers.BooleanField()


class CheckpointDiffSerializer(serializers.Serializer[Any]):
    """What restoring a checkpoint would change: `before` is now, `after` the checkpoint."""

    summary = serializers.CharField()
    empty = serializers.BooleanField(help_text="True when a restore would change nothing.")
    plan = serializers.JSONField(
        help_text="The plan diff, shaped like a version diff: added, removed and changed "
        "requirements, features, sub_features and tasks, and dependency edges."
    )
    tasks = CheckpointTaskChangeSerializer(
        many=True, help_text="Execution changes of tasks that exist now and in the checkpoint."
    )
    agent_state = CheckpointAgentStateDiffSerializer()
    git_commit = CheckpointCommitSerializer(
        help_text="Reported only: a restore does not touch files or git."
    )


class CheckpointRestoreOptionsSerializer(serializers.Serializer[Any]):
    git_branch = serializers.BooleanField(
        default=False,
        help_text="Also point branch crewboard/restore-<checkpoint id> at the checkpoint's "
        "git commit (git branch only: nothing is checked out or reset). 400 when the "
        "checkpoint has no commit, the project no repository, or the repository lacks the "
        "commit; 409 when the branch exists pointing elsewhere. Either way nothing is "
        "restored.",
    )


class RestoreBranchSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    commit = serializers.CharField()
    made = serializers.BooleanField(help_text="False when the branch was there already.")


class CheckpointRestoreSerializer(serializers.Serializer[Any]):
    summary = serializers.CharField(help_text="What the restore changed.")
    warnings = serializers.ListField(child=serializers.CharField())
    git_branch = RestoreBranchSerializer(
        allow_null=True, help_text="The branch at the checkpoint's commit, when asked for."
    )
    decision = DecisionSerializer(help_text="The decision that records the restore.")


class AgentStateSerializer(serializers.ModelSerializer[AgentState]):
    class Meta:
        model = AgentState
        fields = ["id", "namespace", "key", "value", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        # Uniqueness is checked (and reported) by the service's full_clean.
        validators: list[Any] = []


class AgentStateValueSerializer(serializers.Serializer[Any]):
    value = serializers.JSONField(allow_null=True)
