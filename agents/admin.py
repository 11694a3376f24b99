from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from django import forms
from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from agents import services
from agents.models import (
    Agent,
    AgentRun,
    AgentState,
    Checkpoint,
    DecisionLog,
    Merge,
    Metric,
    PlanningCycle,
    Review,
    ReviewComment,
    ToolCall,
)
from agents.services import runs
from agents.workspaces.executors import executor_command_error
from core.admin import json_display
from core.errors import DomainError
from planning.models import Executor

# What only agents.services.runs changes.
LIFE_FIELDS = (
    "status",
    "executor",
    "lease_expires_at",
    "heartbeat_at",
    "started_at",
    "finished_at",
    "error",
    "result",
)


LogRow = TypeVar("LogRow", bound=Model)


class AppendOnlyAdmin(admin.ModelAdmin[LogRow]):
    """Browse-only: the database rejects UPDATE and DELETE on these tables.

    Rows are written by the agent runtime and the API; with no change permission the
    admin renders every field read-only.
    """

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin[Agent]):
    list_display = (
        "name",
        "project",
        "type",
        "status",
        "current_task",
        "model",
        "executor",
        "last_activity_at",
    )
    list_filter = ("type", "status", "executor")
    search_fields = ("name", "model", "branch_name", "project__slug")
    ordering = ("project__name", "name")
    list_select_related = ("project", "current_task")
    autocomplete_fields = ("project", "current_task")
    readonly_fields = ("created_at", "updated_at")

    def get_form(
        self, request: HttpRequest, obj: Agent | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (AgentExecutorCheck, form), {})

    def save_model(self, request: HttpRequest, obj: Agent, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if obj.status == Agent.Status.TERMINATED:
            services.agent_pending_tasks_release(agent=obj)


class AgentExecutorCheck(forms.ModelForm):  # type: ignore[type-arg]
    """The admin's form for an agent refuses a `command` executor without a valid argv
    template, as the services do."""

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        command = data.get("executor_command")
        if data.get("executor") == Executor.COMMAND or command not in ([], None):
            problem = executor_command_error(command)
            if problem:
                self.add_error("executor_command", problem)
        return data


@admin.register(AgentRun)
class AgentRunAdmin(admin.ModelAdmin[AgentRun]):
    """Runs are queued here through the runs service; afterwards their life (status,
    lease, outcome) changes only through it: the cancel and retry actions below, the
    dashboard, the API and the workers."""

    list_display = (
        "id",
        "agent",
        "project",
        "task",
        "kind",
        "status",
        "executor",
        "attempt",
        "started_at",
        "finished_at",
    )
    list_filter = ("status", "kind", "executor")
    search_fields = ("idempotency_key", "agent__name", "task__key", "project__slug")
    ordering = ("-created_at",)
    list_select_related = ("agent", "project", "task")
    autocomplete_fields = ("project", "agent", "task")
    fields: ClassVar[tuple[str, ...]] = (
        "project",
        "agent",
        "task",
        "kind",
        "attempt",
        "idempotency_key",
        "payload",
        *LIFE_FIELDS,
        "created_at",
        "updated_at",
    )
    actions = ["cancel_runs", "retry_runs"]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        # Deleting in bulk would skip the check below.
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request: HttpRequest, obj: AgentRun | None = None) -> bool:
        # An active run holds its task and agent; cancel it first.
        if isinstance(obj, AgentRun) and obj.status in AgentRun.ACTIVE_STATUSES:
            return False
        return super().has_delete_permission(request, obj)

    def get_readonly_fields(
        self, request: HttpRequest, obj: AgentRun | None = None
    ) -> tuple[str, ...]:
        if obj is None:
            return (*LIFE_FIELDS, "created_at", "updated_at")
        return self.fields

    def save_model(self, request: HttpRequest, obj: AgentRun, form: Any, change: bool) -> None:
        if change:
            return  # every field of a saved run is read-only here
        created = runs.agent_run_create(
            project=obj.project,
            agent=obj.agent,
            task=obj.task,
            kind=obj.kind,
            attempt=obj.attempt,
            idempotency_key=obj.idempotency_key,
            payload=obj.payload,
        )
        obj.pk = created.pk
        obj.refresh_from_db()

    @admin.action(description="Cancel the selected runs")
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet[AgentRun]) -> None:
        self._each(
            request,
            queryset,
            "cancelled",
            lambda run: runs.run_cancel(
                run=run, reason=f"cancelled by {request.user} in the admin"
            ),
        )

    @admin.action(description="Retry the selected failed runs")
    def retry_runs(self, request: HttpRequest, queryset: QuerySet[AgentRun]) -> None:
        self._each(request, queryset, "retried", lambda run: runs.run_retry(run=run))

    def _each(
        self,
        request: HttpRequest,
        queryset: QuerySet[AgentRun],
        done: str,
        act: Callable[[AgentRun], AgentRun],
    ) -> None:
        count = 0
        for run in queryset:
            try:
                act(run)
            except DomainError as exc:
                self.message_user(request, f"Run {run.pk}: {exc.message}", messages.WARNING)
            else:
                count += 1
        if count:
            self.message_user(request, f"{count} run(s) {done}.", messages.SUCCESS)


@admin.register(ToolCall)
class ToolCallAdmin(AppendOnlyAdmin[ToolCall]):
    list_display = (
        "id",
        "tool",
        "phase",
        "status",
        "duration_ms",
        "project",
        "agent",
        "run",
        "created_at",
    )
    list_filter = ("status", "tool_name")
    search_fields = ("tool_name", "error", "project__slug", "agent__name")
    ordering = ("-id",)
    list_select_related = ("project", "agent", "run__agent", "started")
    fields = (
        "project",
        "agent",
        "run",
        "task",
        "started",
        "tool_name",
        "input_json",
        "status",
        "output_json",
        "error",
        "duration_ms",
        "created_at",
    )
    readonly_fields = fields
    input_json = json_display("input")
    output_json = json_display("output")

    @admin.display(description="tool")
    def tool(self, obj: ToolCall) -> str:
        # A completion row carries no tool name of its own.
        if obj.tool_name or obj.started is None:
            return obj.tool_name
        return obj.started.tool_name

    @admin.display(description="row")
    def phase(self, obj: ToolCall) -> str:
        return f"completes #{obj.started_id}" if obj.is_completion else "started"


@admin.register(PlanningCycle)
class PlanningCycleAdmin(AppendOnlyAdmin[PlanningCycle]):
    list_display = ("id", "status", "opened", "project", "agent", "run", "created_at")
    list_filter = ("status",)
    search_fields = ("project__name", "project__slug", "agent__name")
    ordering = ("-id",)
    list_select_related = ("project", "agent", "run__agent", "opened")
    fields = (
        "project",
        "agent",
        "run",
        "opened",
        "status",
        "goals_json",
        "outcomes_json",
        "created_at",
    )
    readonly_fields = fields
    goals_json = json_display("goals")
    outcomes_json = json_display("outcomes")


@admin.register(DecisionLog)
class DecisionLogAdmin(AppendOnlyAdmin[DecisionLog]):
    list_display = ("id", "__str__", "project", "agent", "task", "planning_cycle", "created_at")
    search_fields = ("decision", "project__slug", "agent__name")
    ordering = ("-id",)
    list_select_related = ("project", "agent", "task", "planning_cycle")
    fields = (
        "project",
        "agent",
        "run",
        "task",
        "planning_cycle",
        "decision",
        "reasoning_json",
        "created_at",
    )
    readonly_fields = fields
    reasoning_json = json_display("reasoning")


@admin.register(Metric)
class MetricAdmin(AppendOnlyAdmin[Metric]):
    list_display = ("id", "type", "value", "project", "agent", "task", "run", "recorded_at")
    list_filter = ("type",)
    search_fields = ("project__slug", "agent__name", "task__key")
    ordering = ("-id",)
    list_select_related = ("project", "agent", "task", "run__agent")
    fields = ("project", "agent", "run", "task", "type", "value", "metadata_json", "recorded_at")
    readonly_fields = fields
    metadata_json = json_display("metadata")


@admin.register(Checkpoint)
class CheckpointAdmin(admin.ModelAdmin[Checkpoint]):
    list_display = ("name", "project", "git_commit", "created_at")
    search_fields = ("name", "reason", "git_commit", "project__slug")
    ordering = ("-created_at", "-id")
    list_select_related = ("project",)
    autocomplete_fields = ("project",)
    readonly_fields = ("created_at",)


@admin.register(AgentState)
class AgentStateAdmin(admin.ModelAdmin[AgentState]):
    list_display = ("namespace", "key", "project", "updated_at")
    list_filter = ("namespace",)
    search_fields = ("namespace", "key", "project__slug")
    ordering = ("namespace", "key")
    list_select_related = ("project",)
    autocomplete_fields = ("project",)
    readonly_fields = ("created_at", "updated_at")


class ReviewCommentInline(admin.TabularInline[ReviewComment, Review]):
    model = ReviewComment
    fields = ("path", "line", "side", "line_text", "body", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(Review)
class ReviewAdmin(AppendOnlyAdmin[Review]):
    """Reviews are written by people on the review page or the API, and by reviewer
    agents; the database rejects changes to them."""

    list_display = ("id", "task", "verdict", "reviewer_label", "run", "created_at")
    list_filter = ("verdict",)
    search_fields = ("task__key", "project__slug", "body")
    ordering = ("-id",)
    list_select_related = ("task", "run__agent", "reviewer", "reviewer_agent")
    fields = (
        "project",
        "task",
        "run",
        "reviewer",
        "reviewer_agent",
        "verdict",
        "body",
        "base_commit",
        "head_commit",
        "created_at",
    )
    readonly_fields = fields
    inlines = (ReviewCommentInline,)


@admin.register(Merge)
class MergeAdmin(AppendOnlyAdmin[Merge]):
    """Merges change only through agents.services.merges (approve a review to merge)."""

    list_display = ("id", "task", "status", "strategy", "branch", "base_branch", "created_at")
    list_filter = ("status", "strategy")
    search_fields = ("task__key", "project__slug", "branch", "merge_commit")
    ordering = ("-id",)
    list_select_related = ("task",)
    fields = (
        "project",
        "task",
        "run",
        "strategy",
        "status",
        "branch",
        "base_branch",
        "base_commit",
        "merge_commit",
        "conflicts",
        "message",
        "pull_request_url",
        "merged_by",
        "merger_agent",
        "attempts",
        "created_at",
        "finished_at",
    )
    readonly_fields = fields
