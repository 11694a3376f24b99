"""Saved plans with their immutable versions, and planning conversations."""

from __future__ import annotations

from typing import TypedDict

from django.contrib import admin
from django.db.models import Count, Model, QuerySet
from django.http import HttpRequest
from django_stubs_ext import WithAnnotations

from core.admin import json_display
from planning.admin.base import ReadOnlyInline
from planning.models import ConversationMessage, ConversationSession, DevPlan, DevPlanVersion


class DevPlanVersionInline(ReadOnlyInline[DevPlanVersion, DevPlan]):
    model = DevPlanVersion
    fields = ("number", "change_summary", "created_by", "created_at")
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[DevPlanVersion]:
        return super().get_queryset(request).select_related("plan__project", "created_by")


class VersionCount(TypedDict):
    version_count: int


@admin.register(DevPlan)
class DevPlanAdmin(admin.ModelAdmin[DevPlan]):
    list_display = ("name", "project", "version_count", "updated_at")
    search_fields = ("name", "project__name", "project__slug")
    ordering = ("project__name", "name")
    list_select_related = ("project",)
    autocomplete_fields = ("project",)
    readonly_fields = ("created_at", "updated_at")
    inlines = (DevPlanVersionInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[DevPlan]:
        return super().get_queryset(request).annotate(version_count=Count("versions"))

    @admin.display(description="versions", ordering="version_count")
    def version_count(self, obj: WithAnnotations[DevPlan, VersionCount]) -> int:
        return obj.version_count


@admin.register(DevPlanVersion)
class DevPlanVersionAdmin(admin.ModelAdmin[DevPlanVersion]):
    """Versions are immutable snapshots: browsed here, written only by the planning services."""

    list_display = ("plan", "number", "change_summary", "created_by", "created_at")
    search_fields = ("plan__name", "plan__project__slug", "change_summary")
    ordering = ("plan__project__name", "plan__name", "-number")
    list_select_related = ("plan__project", "created_by")
    fields = ("plan", "number", "change_summary", "created_by", "created_at", "snapshot_json")
    readonly_fields = fields
    snapshot_json = json_display("snapshot")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class ConversationMessageInline(ReadOnlyInline[ConversationMessage, ConversationSession]):
    model = ConversationMessage
    fields = ("role", "content", "token_count", "created_at")


@admin.register(ConversationSession)
class ConversationSessionAdmin(admin.ModelAdmin[ConversationSession]):
    list_display = ("__str__", "project", "kind", "status", "created_by", "created_at")
    list_filter = ("kind", "status")
    search_fields = ("title", "project__name", "project__slug")
    ordering = ("-created_at",)
    list_select_related = ("project", "created_by")
    autocomplete_fields = ("project", "created_by")
    readonly_fields = ("created_at", "updated_at")
    inlines = (ConversationMessageInline,)


@admin.register(ConversationMessage)
class ConversationMessageAdmin(admin.ModelAdmin[ConversationMessage]):
    list_display = ("session", "role", "short_content", "token_count", "created_at")
    list_filter = ("role",)
    search_fields = ("content", "session__title")
    ordering = ("-created_at", "-id")
    list_select_related = ("session",)
    autocomplete_fields = ("session",)
    readonly_fields = ("created_at",)

    @admin.display(description="content")
    def short_content(self, obj: ConversationMessage) -> str:
        return obj.content[:80]
