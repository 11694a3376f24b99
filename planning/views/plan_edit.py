"""Editing the plan from its page: adding, editing, moving and deleting features and
sub-features (tasks: planning.views.plan_edit_tasks), each through a planning service,
with the forms of planning.views.plan_forms. Editors and owners only: a viewer gets 403.
No edit saves a version.
"""

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from core.htmx import AuthenticatedHtmxRequest
from planning import outline, selectors, services
from planning.forms import FeatureForm, SubFeatureForm
from planning.models import Feature, SubFeature
from planning.services import plan_edits
from planning.views.plan_edit_tasks import (
    TASK_FIELDS,
    task_add,
    task_delete,
    task_edit,
    task_move,
)
from planning.views.plan_forms import (
    TEMPLATE,
    FormPage,
    add_errors,
    delete_view,
    feature_or_404,
    fields_of,
    form_view,
    impact_lines,
    move_view,
    next_position,
    plan_url,
    sub_feature_or_404,
)

FEATURE_FIELDS = ("key", "name", "description", "priority")
SUB_FEATURE_FIELDS = ("key", "name", "objective", "wave", "autonomous")

# Importable from here too, as they always were: the forms' shared parts and the tasks'
# views.
__all__ = [
    "FEATURE_FIELDS",
    "SUB_FEATURE_FIELDS",
    "TASK_FIELDS",
    "TEMPLATE",
    "FormPage",
    "add_errors",
    "delete_view",
    "feature_add",
    "feature_delete",
    "feature_edit",
    "feature_move",
    "form_view",
    "impact_lines",
    "move_view",
    "plan_url",
    "sub_feature_add",
    "sub_feature_delete",
    "sub_feature_edit",
    "sub_feature_move",
    "task_add",
    "task_delete",
    "task_edit",
    "task_move",
]


# Features -----------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def feature_add(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)

    def save(data: dict[str, Any]) -> Feature:
        return services.feature_create(
            project=project,
            position=next_position(project.features.all()),
            **fields_of(data, FEATURE_FIELDS),
        )

    page = FormPage(
        title="Add a feature",
        form_class=FeatureForm,
        action=reverse("planning:plan-feature-add", args=[slug]),
        cancel_url=plan_url(project),
        save=save,
        done_url=lambda feature: plan_url(project, feature=feature.pk),
        initial={"key": f"{project.features.count() + 1:02d}"} if request.method == "GET" else {},
    )
    return form_view(request, project, page)


@login_required
@require_http_methods(["GET", "POST"])
def feature_edit(request: AuthenticatedHtmxRequest, slug: str, pk: int) -> HttpResponse:
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    feature = feature_or_404(project, pk)
    page = FormPage(
        title=f"Edit feature {feature.key}",
        form_class=FeatureForm,
        action=reverse("planning:plan-feature-edit", args=[slug, pk]),
        cancel_url=plan_url(project, feature=pk),
        save=lambda data: services.feature_update(
            feature=feature, data=fields_of(data, FEATURE_FIELDS)
        ),
        done_url=lambda _: plan_url(project, feature=pk),
        initial={name: getattr(feature, name) for name in FEATURE_FIELDS},
    )
    return form_view(request, project, page)


@login_required
@require_POST
def feature_move(request: AuthenticatedHtmxRequest, slug: str, pk: int) -> HttpResponse:
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    feature = feature_or_404(project, pk)
    return move_view(
        request,
        lambda **where: plan_edits.feature_reorder(feature=feature, **where),
        plan_url(project, feature=pk),
    )


@login_required
@require_POST
def feature_delete(request: AuthenticatedHtmxRequest, slug: str, pk: int) -> HttpResponse:
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    feature = feature_or_404(project, pk)
    return delete_view(
        request,
        project,
        what=f"feature {feature.key} {feature.name}",
        impact=outline.feature_deletion_impact(feature=feature),
        delete=lambda: services.feature_delete(feature=feature),
        done_url=plan_url(project),
    )


# Sub-features -------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def sub_feature_add(request: AuthenticatedHtmxRequest, slug: str, pk: int) -> HttpResponse:
    """Add a sub-feature at the end of feature `pk`."""
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    feature = feature_or_404(project, pk)

    def save(data: dict[str, Any]) -> SubFeature:
        return services.sub_feature_create(
            feature=feature,
            position=next_position(feature.sub_features.all()),
            **fields_of(data, SUB_FEATURE_FIELDS),
        )

    number = feature.sub_features.count() + 1 if request.method == "GET" else 0
    page = FormPage(
        title=f"Add a sub-feature to {feature.key}",
        form_class=SubFeatureForm,
        action=reverse("planning:plan-sub-feature-add", args=[slug, pk]),
        cancel_url=plan_url(project, feature=pk),
        save=save,
        done_url=lambda sub: plan_url(project, sub_feature=sub.pk),
        initial={"key": f"{feature.key}-{number:02d}"},
    )
    return form_view(request, project, page)


@login_required
@require_http_methods(["GET", "POST"])
def sub_feature_edit(request: AuthenticatedHtmxRequest, slug: str, pk: int) -> HttpResponse:
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    sub = sub_feature_or_404(project, pk)
    page = FormPage(
        title=f"Edit sub-feature {sub.key}",
        form_class=SubFeatureForm,
        action=reverse("planning:plan-sub-feature-edit", args=[slug, pk]),
        cancel_url=plan_url(project, sub_feature=pk),
        save=lambda data: services.sub_feature_update(
            sub_feature=sub, data=fields_of(data, SUB_FEATURE_FIELDS)
        ),
        done_url=lambda _: plan_url(project, sub_feature=pk),
        initial={name: getattr(sub, name) for name in SUB_FEATURE_FIELDS},
    )
    return form_view(request, project, page)


@login_required
@require_POST
def sub_feature_move(request: AuthenticatedHtmxRequest, slug: str, pk: int) -> HttpResponse:
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    sub = sub_feature_or_404(project, pk)
    return move_view(
        request,
        lambda **where: plan_edits.sub_feature_reorder(sub_feature=sub, **where),
        plan_url(project, sub_feature=pk),
    )


@login_required
@require_POST
def sub_feature_delete(request: AuthenticatedHtmxRequest, slug: str, pk: int) -> HttpResponse:
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    sub = sub_feature_or_404(project, pk)
    return delete_view(
        request,
        project,
        what=f"sub-feature {sub.key} {sub.name}",
        impact=outline.sub_feature_deletion_impact(sub_feature=sub),
        delete=lambda: services.sub_feature_delete(sub_feature=sub),
        done_url=plan_url(project, feature=sub.feature_id),
    )
