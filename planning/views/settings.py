"""A project's settings for coding runs: its repository, the commands that set up and
check a worktree, and what agents may do there."""

import copy

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from core.errors import DomainError
from core.htmx import AuthenticatedHtmxRequest, redirect_or_client_redirect, wants_fragment
from planning import selectors, services
from planning.forms import ProjectSettingsForm

TEMPLATE = "planning/project_settings.html"


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """GET shows the settings (read-only for viewers); POST saves them through
    project_update and goes back to the page.

    A bad value writes nothing and answers 400 with the form (`#project-settings-form`
    for htmx) showing the error on its field: a root path that is not a git work tree,
    a missing base branch, a repository URL that cannot be cloned, ...
    """
    project, membership = selectors.project_for_user(
        user=request.user, slug=slug, write=request.method == "POST"
    )
    if request.method == "GET":
        form = ProjectSettingsForm(instance=project, can_write=membership.can_write)
        context = {"project": project, "form": form, "can_write": membership.can_write}
        return render(request, TEMPLATE, context)
    # The form sets the values it validates on its instance: a copy, so that the service
    # still sees what changed (and the page, on an error, the saved project).
    form = ProjectSettingsForm(request.POST, instance=copy.copy(project))
    if form.is_valid():
        data = {name: form.cleaned_data[name] for name in form.changed_data}
        try:
            project = services.project_update(project=project, data=data)
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            messages.success(request, "Saved the project's settings.")
            url = reverse("planning:project-settings", args=[project.slug])
            return redirect_or_client_redirect(request, url)
    template = f"{TEMPLATE}#project-settings-form" if wants_fragment(request) else TEMPLATE
    context = {"project": project, "form": form, "can_write": True}
    return render(request, template, context, status=400)
