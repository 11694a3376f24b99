from __future__ import annotations

from typing import Any, ClassVar, TypedDict, TypeVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import InlineModelAdmin
from django.contrib.admin.utils import flatten
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Model, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django_stubs_ext import WithAnnotations

from core.admin import json_display
from planning import selectors, services
from planning.forms import ProjectAdminForm
from planning.graph import cycle_closed_by
from planning.models import (
    ConversationMessage,
    ConversationSession,
    DevPlan,
    DevPlanVersion,
    Feature,
    Project,
    ProjectMembership,
    Requirement,
    SubFeature,
    SubFeatureDependency,
    Task,
    TaskDependency,
)
from planning.services.projects import PROJECT_SETTINGS_FIELDS

Row = TypeVar("Row", bound=Model)
Parent = TypeVar("Parent", bound=Model)


class ReadOnlyInline(admin.TabularInline[Row, Parent]):
    """Rows listed under their parent for reading; they are changed elsewhere or never."""

    extra = 0

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        # Non-editable columns such as created_at cannot be form fields.
        return flatten(self.fields or ())

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


def _cycle_error(cycle: list[int], keys: dict[int, str]) -> ValidationError:
    return ValidationError(
        "This dependency would close a cycle: " + " -> ".join(keys[i] for i in cycle)
    )


# Projects -----------------------------------------------------------------------------


class MembershipFormSet(
    BaseInlineFormSet[ProjectMembership, Project, forms.ModelForm[ProjectMembership]]
):
    """Keeps the services' rule that a project never loses its last owner."""

    def clean(self) -> None:
        super().clean()
        owners = [
            form
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and form.cleaned_data.get("role") == ProjectMembership.Role.OWNER
        ]
        if not owners:
            raise ValidationError("A project needs at least one owner.")


class MembershipInline(admin.TabularInline[ProjectMembership, Project]):
    model = ProjectMembership
    formset = MembershipFormSet
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("user",)
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[ProjectMembership]:
        return super().get_queryset(request).select_related("user", "project")


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin[Project]):
    form = ProjectAdminForm
    list_display = ("name", "slug", "status", "mode", "owner", "created_at")
    list_filter = ("status", "mode")
    search_fields = ("name", "slug", "owner__username")
    ordering = ("name",)
    list_select_related = ("owner",)
    autocomplete_fields = ("owner",)
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("created_at", "updated_at")
    inlines = (MembershipInline,)

    def get_fields(self, request: HttpRequest, obj: Project | None = None) -> tuple[str, ...]:
        # The add form asks for exactly what project_create takes.
        fields = (
            "name",
            "slug",
            "owner",
            "description",
            "mode",
            "status",
            *PROJECT_SETTINGS_FIELDS,
        )
        if obj is None:
            return fields
        return (*fields, "completed_at", "created_at", "updated_at")

    def get_inlines(
        self, request: HttpRequest, obj: Project | None
    ) -> tuple[type[InlineModelAdmin[Any, Any]], ...]:
        # The owner's membership is created with the project; others are added afterwards.
        return tuple(self.inlines) if obj is not None else ()

    def save_model(
        self, request: HttpRequest, obj: Project, form: forms.ModelForm[Project], change: bool
    ) -> None:
        if change:
            # Through the service, which checks the repository (and clones one) as the
            # form did; what it does not take (the owner, completed_at) is saved after.
            data = {n: getattr(obj, n) for n in form.changed_data if n in services.PROJECT_FIELDS}
            saved = services.project_update(project=Project.objects.get(pk=obj.pk), data=data)
            obj.root_path = saved.root_path
            if set(form.changed_data) - set(services.PROJECT_FIELDS):
                super().save_model(request, obj, form, change)
            return
        created = services.project_create(
            owner=obj.owner,
            name=obj.name,
            **{name: getattr(obj, name) for name in services.PROJECT_FIELDS if name != "name"},
        )
        # The admin goes on using `obj` for its log entry and redirect.
        obj.pk = created.pk
        obj.refresh_from_db()
        obj._state.adding = False


@admin.register(ProjectMembership)
class ProjectMembershipAdmin(admin.ModelAdmin[ProjectMembership]):
    list_display = ("project", "user", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("project__name", "project__slug", "user__username")
    ordering = ("project__name", "user__username")
    list_select_related = ("project", "user")
    autocomplete_fields = ("project", "user")


# Requirements, features, sub-features -----------------------------------------------


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
            raise _cycle_error(cycle, keys)
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


# Tasks --------------------------------------------------------------------------------


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
            raise _cycle_error(cycle, keys)
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


# Plans and conversations ---------------------------------------------------------------


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
