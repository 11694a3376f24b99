"""A project's members: everyone sees who they are; the owners add and remove them and
change their roles."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from core.errors import DomainError
from core.htmx import AuthenticatedHtmxRequest
from planning import selectors, services
from planning.forms import MemberAddForm, MemberRoleForm
from planning.models import Project, ProjectMembership

TEMPLATE = "planning/project_members.html"
ONLY_OWNERS = "Only the project's owners change its members."


def _project_for_owner(request: AuthenticatedHtmxRequest, slug: str) -> Project:
    project, membership = selectors.project_for_user(user=request.user, slug=slug)
    if membership.role != ProjectMembership.Role.OWNER:
        raise PermissionDenied(ONLY_OWNERS)
    return project


def _page(
    request: AuthenticatedHtmxRequest,
    project: Project,
    *,
    is_owner: bool,
    add_form: MemberAddForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    context = {
        "project": project,
        "members": selectors.membership_list(project=project),
        "is_owner": is_owner,
        "add_form": add_form or MemberAddForm(),
        "roles": ProjectMembership.Role.choices,
        "error": error,
    }
    return render(request, TEMPLATE, context, status=status)


@login_required
@require_GET
def member_list(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    project, membership = selectors.project_for_user(user=request.user, slug=slug)
    return _page(request, project, is_owner=membership.role == ProjectMembership.Role.OWNER)


@login_required
@require_POST
def member_add(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """Adds a user by name. An unknown name and an inactive account get the same answer,
    so the form tells no one which accounts exist."""
    project = _project_for_owner(request, slug)
    form = MemberAddForm(request.POST)
    if not form.is_valid():
        return _page(request, project, is_owner=True, add_form=form, status=400)
    username, role = form.cleaned_data["username"], form.cleaned_data["role"]
    user = selectors.user_to_add(username=username)
    if user is None:
        form.add_error("username", f"“{username}” cannot be added. Check the username.")
        return _page(request, project, is_owner=True, add_form=form, status=400)
    if project.memberships.filter(user=user).exists():
        form.add_error("username", f"{user.username} is already a member; change their role below.")
        return _page(request, project, is_owner=True, add_form=form, status=400)
    services.membership_set(project=project, user=user, role=role)
    messages.success(request, f"Added {user.username} as {role}.")
    return redirect("planning:project-members", slug=project.slug)


def _membership(project: Project, membership_id: int) -> ProjectMembership:
    membership = (
        project.memberships.select_related("user", "project").filter(pk=membership_id).first()
    )
    if membership is None:
        raise Http404("No such member.")
    return membership


@login_required
@require_POST
def member_role(request: AuthenticatedHtmxRequest, slug: str, membership_id: int) -> HttpResponse:
    project = _project_for_owner(request, slug)
    membership = _membership(project, membership_id)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        return _page(request, project, is_owner=True, error="Choose a role.", status=400)
    try:
        services.membership_set(
            project=project, user=membership.user, role=form.cleaned_data["role"]
        )
    except DomainError as exc:
        return _page(request, project, is_owner=True, error=exc.message, status=exc.status_code)
    messages.success(request, f"{membership.user.username} is now {form.cleaned_data['role']}.")
    return redirect("planning:project-members", slug=project.slug)


@login_required
@require_POST
def member_remove(request: AuthenticatedHtmxRequest, slug: str, membership_id: int) -> HttpResponse:
    project = _project_for_owner(request, slug)
    membership = _membership(project, membership_id)
    try:
        services.membership_remove(membership=membership)
    except DomainError as exc:
        return _page(request, project, is_owner=True, error=exc.message, status=exc.status_code)
    messages.success(request, f"Removed {membership.user.username} from the project.")
    if membership.user_id == request.user.pk:
        # An owner who removed themselves can no longer see the project.
        return redirect("planning:project-list")
    return redirect("planning:project-members", slug=project.slug)
