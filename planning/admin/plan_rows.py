"""The plan's rows: requirements, features, sub-features, tasks, and the dependencies
between them. A change to a task's status or place rolls up, as the services' do."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest

from planning import selectors, services
from planning.admin.base import cycle_error
from planning.graph import cycle_closed_by
from planning.models import (
    Feature,
    Requirement,
    SubFeature,
    SubFeatureDependency,
    Task,
    TaskDependency,
)


@admin.register(Requirement)
class RequirementAdmin(admin.ModelAdmin[Requirement]):
    list_display = (
        "code",
        "short_description",
        "project",
        "position",
        "category",
        "priority",
        "validated",
    )
    list_filter = ("priority", "validated", "category")
    search_fields = ("code", "description", "category")
    # Each project's requirements in their order, as its Requirements tab lists them.
    ordering = ("project__name", "position", "code", "id")
    list_select_related = ("project",)
    autocomplete_fields = ("project", "features")

    @admin.display(description="description", ordering="description")
    def short_description(self, obj: Requirement) -> str:
        return obj.description[:80]


class TaskInline(admin.TabularInline[Task, Feature | SubFeature]):
    model = Task
    fields: ClassVar[tuple[str, ...]] = (
        "key",
        "name",
        "status",
        "priority",
        "wave",
        "assigned_agent",
    )
    # Key and placement need project-wide validation the row form cannot do.
    readonly_fields: ClassVar[tuple[str, ...]] = ("key", "wave", "assigned_agent")
    show_change_link = True
    extra = 0

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Task]:
        return super().get_queryset(request).select_related("assigned_agent")


class FeatureTaskInline(TaskInline):
    fields = ("key", "name", "sub_feature", "status", "priority", "wave", "assigned_agent")
    readonly_fields = ("key", "sub_feature", "wave", "assigned_agent")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Task]:
        return super().get_queryset(request).select_related("sub_feature")


PlanRow = TypeVar("PlanRow", bound=Feature | SubFeature | Task)


class PlanRowAdmin(admin.ModelAdmin[PlanRow]):
    """Task statuses and places changed here (a task's form, or the task rows under a
    feature or sub-feature) roll up into features, sub-features and the project, as the
    services' changes do; so does a deletion."""

    def save_related(
        self,
        request: HttpRequest,
        form: forms.ModelForm[PlanRow],
        formsets: list[BaseInlineFormSet[Any, PlanRow, Any]],
        change: bool,
    ) -> None:
        super().save_related(request, form, formsets, change)
        # A status a person sets on a feature itself stands until its tasks change.
        tasks_changed = any(formset.has_changed() for formset in formsets)
        if isinstance(form.instance, Task):
            placed = {"status", "feature", "sub_feature"} & set(form.changed_data)
            tasks_changed = tasks_changed or not change or bool(placed)
        if tasks_changed:
            services.plan_status_rollup(project_id=form.instance.project_id)

    def delete_model(self, request: HttpRequest, obj: PlanRow) -> None:
        super().delete_model(request, obj)
        services.plan_rows_deleted(project_id=obj.project_id)
        services.plan_status_rollup(project_id=obj.project_id)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[PlanRow]) -> None:
        project_ids = set(queryset.values_list("project_id", flat=True))
        super().delete_queryset(request, queryset)
        for project_id in sorted(project_ids):
            services.plan_rows_deleted(project_id=project_id)
            services.plan_status_rollup(project_id=project_id)


@admin.register(Feature)
class FeatureAdmin(PlanRowAdmin[Feature]):
    list_display = ("key", "name", "project", "status", "priority", "position")
    list_filter = ("status", "priority")
    search_fields = ("key", "name", "project__slug")
    ordering = ("project__name", "position", "key")
    list_select_related = ("project",)
    autocomplete_fields = ("project",)
    readonly_fields = ("created_at", "updated_at")
    inlines = (FeatureTaskInline,)


@admin.register(SubFeature)
class SubFeatureAdmin(PlanRowAdmin[SubFeature]):
    list_display = ("key", "name", "feature", "project", "status", "wave", "autonomous")
    list_filter = ("status", "autonomous", "wave")
    search_fields = ("key", "name", "objective", "project__slug")
    ordering = ("project__name", "position", "key")
    list_select_related = ("feature", "project")
    autocomplete_fields = ("project", "feature", "requirements")
    readonly_fields = ("created_at", "updated_at")
    inlines = (TaskInline,)


class SubFeatureDependencyForm(forms.ModelForm[SubFeatureDependency]):
    class Meta:
        model = SubFeatureDependency
        fields = ("sub_feature", "depends_on")

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        sub, target = cleaned.get("sub_feature"), cleaned.get("depends_on")
        if sub is None or target is None:
            return cleaned
        if sub.project_id != target.project_id:
            raise ValidationError("A sub-feature can only depend on sub-features of its project.")
        graph = selectors.sub_feature_dependency_graph(project=sub.project)
        cycle = cycle_closed_by(graph, sub.pk, target.pk)
        if cycle:
            keys = dict(SubFeature.objects.filter(pk__in=cycle).values_list("id", "key"))
            raise cycle_error(cycle, keys)
        return cleaned


@admin.register(SubFeatureDependency)
class SubFeatureDependencyAdmin(admin.ModelAdmin[SubFeatureDependency]):
    form = SubFeatureDependencyForm
    list_display = ("sub_feature", "depends_on")
    search_fields = ("sub_feature__key", "depends_on__key", "sub_feature__project__slug")
    ordering = ("sub_feature__key", "depends_on__key")
    list_select_related = ("sub_feature", "depends_on")
    autocomplete_fields = ("sub_feature", "depends_on")

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # An edge is added or removed, never re-pointed past the cycle check.
        return False


@admin.register(Task)
class TaskAdmin(PlanRowAdmin[Task]):
    list_display = (
        "key",
        "name",
        "project",
        "feature",
        "sub_feature",
        "parent",
        "status",
        "type",
        "priority",
        "wave",
        "assigned_agent",
        "updated_at",
    )
    list_filter = ("status", "type", "priority", "size")
    search_fields = ("key", "name", "project__slug")
    ordering = ("project__name", "position", "sort_key")
    list_select_related = ("project", "feature", "sub_feature", "parent", "assigned_agent")
    autocomplete_fields = ("project", "feature", "sub_feature", "parent", "assigned_agent")
    readonly_fields = ("created_at", "updated_at")
    actions = ("mark_done",)

    @admin.action(description="Mark selected tasks done", permissions=("change",))
    def mark_done(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        tasks = list(queryset.select_related("project"))
        with transaction.atomic():
            for task in tasks:
                services.task_set_status(task=task, status=Task.Status.DONE)
        self.message_user(request, f"Marked {len(tasks)} task(s) done.", messages.SUCCESS)


class TaskDependencyForm(forms.ModelForm[TaskDependency]):
    class Meta:
        model = TaskDependency
        fields = ("task", "depends_on")

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        task, target = cleaned.get("task"), cleaned.get("depends_on")
        if task is None or target is None:
            return cleaned
        if task.project_id != target.project_id:
            raise ValidationError("A task can only depend on tasks of the same project.")
        graph = selectors.task_dependency_graph(project=task.project)
        cycle = cycle_closed_by(graph, task.pk, target.pk)
        if cycle:
            keys = dict(Task.objects.filter(pk__in=cycle).values_list("id", "key"))
            raise cycle_error(cycle, keys)
        return cleaned


@admin.register(TaskDependency)
class TaskDependencyAdmin(admin.ModelAdmin[TaskDependency]):
    form = TaskDependencyForm
    list_display = ("task", "depends_on", "created_at")
    search_fields = ("task__key", "depends_on__key", "task__project__slug")
    ordering = ("task__key", "depends_on__key")
    list_select_related = ("task", "depends_on")
    autocomplete_fields = ("task", "depends_on")

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # An edge is added or removed, never re-pointed past the cycle check.
        return False

    def save_model(
        self,
        request: HttpRequest,
        obj: TaskDependency,
        form: forms.ModelForm[TaskDependency],
        change: bool,
    ) -> None:
        edge = services.task_add_dependency(task=obj.task, depends_on=obj.depends_on)
        obj.pk = edge.pk
        obj.created_at = edge.created_at
        obj._state.adding = False
