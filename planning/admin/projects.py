"""Projects and their members."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.options import InlineModelAdmin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest

from planning import services
from planning.forms import ProjectAdminForm
from planning.models import Project, ProjectMembership
from planning.services.projects import PROJECT_SETTINGS_FIELDS


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
