from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from agents import services
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
from core.admin import json_display


class AppendOnlyAdmin(admin.ModelAdmin):
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
class AgentAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "project",
        "type",
        "status",
        "current_task",
        "model",
        "last_activity_at",
    )
    list_filter = ("type", "status")
    search_fields = ("name", "model", "branch_name", "project__slug")
    ordering = ("project__name", "name")
    list_select_related = ("project", "current_task")
    autocomplete_fields = ("project", "current_task")
    readonly_fields = ("created_at", "updated_at")

    def save_model(self, request: HttpRequest, obj: Agent, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if obj.status == Agent.Status.TERMINATED:
            services.agent_pending_tasks_release(agent=obj)


@admin.register(AgentRun)
class AgentRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "agent",
        "project",
        "task",
        "kind",
        "status",
        "attempt",
        "started_at",
        "finished_at",
    )
    list_filter = ("status", "kind")
    search_fields = ("idempotency_key", "agent__name", "task__key", "project__slug")
    ordering = ("-created_at",)
    list_select_related = ("agent", "project", "task")
    autocomplete_fields = ("project", "agent", "task")
    readonly_fields = ("created_at", "updated_at")


@admin.register(ToolCall)
class ToolCallAdmin(AppendOnlyAdmin):
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
        return obj.tool_name or obj.started.tool_name

    @admin.display(description="row")
    def phase(self, obj: ToolCall) -> str:
        return f"completes #{obj.started_id}" if obj.is_completion else "started"


@admin.register(PlanningCycle)
class PlanningCycleAdmin(AppendOnlyAdmin):
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
class DecisionLogAdmin(AppendOnlyAdmin):
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
class MetricAdmin(AppendOnlyAdmin):
    list_display = ("id", "type", "value", "project", "agent", "task", "run", "recorded_at")
    list_filter = ("type",)
    search_fields = ("project__slug", "agent__name", "task__key")
    ordering = ("-id",)
    list_select_related = ("project", "agent", "task", "run__agent")
    fields = ("project", "agent", "run", "task", "type", "value", "metadata_json", "recorded_at")
    readonly_fields = fields
    metadata_json = json_display("metadata")


@admin.register(Checkpoint)
class CheckpointAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "git_commit", "created_at")
    search_fields = ("name", "reason", "git_commit", "project__slug")
    ordering = ("-created_at", "-id")
    list_select_related = ("project",)
    autocomplete_fields = ("project",)
    readonly_fields = ("created_at",)


@admin.register(AgentState)
class AgentStateAdmin(admin.ModelAdmin):
    list_display = ("namespace", "key", "project", "updated_at")
    list_filter = ("namespace",)
    search_fields = ("namespace", "key", "project__slug")
    ordering = ("namespace", "key")
    list_select_related = ("project",)
    autocomplete_fields = ("project",)
    readonly_fields = ("created_at", "updated_at")
