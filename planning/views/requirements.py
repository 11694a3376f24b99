"""The requirements page: each requirement with the features that deliver it and whether
any task covers it, the uncovered ones highlighted and counted; editors add, edit and
delete requirements and link or unlink features there. A page of requirements costs the
same number of queries whatever their number."""

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import DomainError
from core.htmx import AuthenticatedHtmxRequest, redirect_or_client_redirect
from planning import coverage, outline, selectors, services
from planning.analytics_pages import Slice
from planning.forms import RequirementForm, RequirementLinkForm
from planning.models import Project, Requirement
from planning.services import plan_edits
from planning.views.plan_forms import FormPage, add_errors, delete_view, form_view, move_view

TEMPLATE = "planning/requirements.html"
REQUIREMENTS_PER_PAGE = 100
REQUIREMENT_FIELDS = ("code", "description", "category", "priority")


def requirements_url(project: Project, requirement: Requirement | None = None) -> str:
    url = reverse("planning:requirement-list", args=[project.slug])
    return f"{url}#requirement-{requirement.pk}" if requirement is not None else url


@login_required
@require_GET
def requirement_list(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """A page (`?page=`) of the requirements with their coverage; `?uncovered=1` shows
    only those no task covers."""
    project, membership = selectors.project_for_user(user=request.user, slug=slug)
    return render(request, TEMPLATE, _list_context(request, project, membership.can_write))


def _list_context(
    request: AuthenticatedHtmxRequest, project: Project, can_write: bool
) -> dict[str, Any]:
    uncovered_only = request.GET.get("uncovered") == "1"
    counts = coverage.coverage_counts(project=project)
    total = counts.uncovered if uncovered_only else counts.total
    slice_ = Slice.of(request.GET.get("page"), per_page=REQUIREMENTS_PER_PAGE, total=total)
    requirements = coverage.requirement_coverage(project=project, uncovered_only=uncovered_only)
    return {
        "project": project,
        "can_write": can_write,
        # Moves are made in the whole list: in one filtered to the uncovered, an index
        # would count rows the page does not show.
        "can_reorder": can_write and not uncovered_only,
        "counts": counts,
        "uncovered_only": uncovered_only,
        "requirements": list(requirements[slice_.start : slice_.end]),
        "page_obj": slice_,
        # Read once for every row's link form (not one query a row).
        "link_choices": list(coverage.linkable_features(project=project)) if can_write else [],
    }


def _requirement(project: Project, pk: int) -> Requirement:
    return get_object_or_404(project.requirements.select_related("project"), pk=pk)


@login_required
@require_http_methods(["GET", "POST"])
def requirement_add(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    page = FormPage(
        title="Add a requirement",
        form_class=RequirementForm,
        action=reverse("planning:requirement-add", args=[slug]),
        cancel_url=requirements_url(project),
        save=lambda data: services.requirement_create(
            project=project, **{name: data[name] for name in REQUIREMENT_FIELDS}
        ),
        done_url=lambda requirement: requirements_url(project, requirement),
    )
    return form_view(request, project, page)


@login_required
@require_http_methods(["GET", "POST"])
def requirement_edit(request: AuthenticatedHtmxRequest, slug: str, pk: int) -> HttpResponse:
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    requirement = _requirement(project, pk)
    page = FormPage(
        title=f"Edit requirement {requirement}",
        form_class=RequirementForm,
        action=reverse("planning:requirement-edit", args=[slug, pk]),
        cancel_url=requirements_url(project, requirement),
        save=lambda data: services.requirement_update(
            requirement=requirement, data={name: data[name] for name in REQUIREMENT_FIELDS}
        ),
        done_url=lambda _: requirements_url(project, requirement),
        initial={name: getattr(requirement, name) for name in REQUIREMENT_FIELDS},
    )
    return form_view(request, project, page)


@login_required
@require_POST
def requirement_delete(request: AuthenticatedHtmxRequest, slug: str, pk: int) -> HttpResponse:
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    requirement = _requirement(project, pk)
    features, sub_features = coverage.requirement_link_count(requirement=requirement)
    # Nothing else goes with a requirement: only its links to features and sub-features.
    return delete_view(
        request,
        project,
        what=f"requirement {requirement}",
        impact=outline.DeletionImpact(linked_features=features, linked_sub_features=sub_features),
        delete=lambda: services.requirement_delete(requirement=requirement),
        done_url=requirements_url(project),
    )


@login_required
@require_POST
def requirement_move(request: AuthenticatedHtmxRequest, slug: str, pk: int) -> HttpResponse:
    """Move a requirement up or down (`offset`, the arrows) or to `index` (a drag) in the
    project's order."""
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    requirement = _requirement(project, pk)
    return move_view(
        request,
        lambda **where: plan_edits.requirement_reorder(requirement=requirement, **where),
        requirements_url(project, requirement),
    )


@login_required
@require_POST
def requirement_link(request: AuthenticatedHtmxRequest, slug: str, pk: int) -> HttpResponse:
    """Link a feature (`feature=<id>`) to the requirement."""
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    requirement = _requirement(project, pk)
    form = RequirementLinkForm(request.POST, features=coverage.linkable_features(project=project))
    if form.is_valid():
        try:
            plan_edits.requirement_link_feature(
                requirement=requirement, feature=form.cleaned_data["feature"]
            )
        except DomainError as exc:
            add_errors(form, exc)
        else:
            return redirect_or_client_redirect(request, requirements_url(project, requirement))
    context = _list_context(request, project, True)
    context["link_error"] = {
        "pk": requirement.pk,
        "message": " ".join(str(e) for errors in form.errors.values() for e in errors),
    }
    return render(request, TEMPLATE, context, status=400)


@login_required
@require_POST
def requirement_unlink(
    request: AuthenticatedHtmxRequest, slug: str, pk: int, feature_pk: int
) -> HttpResponse:
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    requirement = _requirement(project, pk)
    feature = get_object_or_404(project.features, pk=feature_pk)
    plan_edits.requirement_unlink_feature(requirement=requirement, feature=feature)
    return redirect_or_client_redirect(request, requirements_url(project, requirement))
