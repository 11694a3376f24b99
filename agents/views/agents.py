"""The project's agents: the list with their live status and the run controls, adding an
agent, changing what writes an agent's code, and giving an external agent a key."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from agents import selectors, services
from agents.forms import AgentCreateForm, AgentExecutorForm, command_line
from agents.models import Agent
from agents.workspaces.commands import sandbox_available
from agents.workspaces.executors import executor_check
from cli.mcp_tools import PROFILES, TOOLS
from core.errors import DomainError
from core.htmx import (
    AuthenticatedHtmxRequest,
    HtmxHttpRequest,
    redirect_or_client_redirect,
    wants_fragment,
)
from planning import selectors as planning_selectors
from planning.models import Executor, Project

AGENTS_PER_PAGE = 25
EXECUTOR_TEMPLATE = "agents/agent_executor.html"


@login_required
@require_GET
@vary_on_headers("HX-Request")
def agent_list(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """The project's agents: what each is doing and when it last acted, with the project's
    run controls and its latest runs. Non-members get 404.

    `#agent-status` polls itself every 2 s while the project runs or an agent is busy.
    """
    project, membership = planning_selectors.project_for_user(user=request.user, slug=slug)
    template_name = "agents/agent_list.html"
    if wants_fragment(request):
        template_name += "#agent-status"
    paginator = Paginator(selectors.agent_list(project=project), AGENTS_PER_PAGE)
    page_obj = paginator.get_page(request.GET.get("page"))
    agents_live = project.status == Project.Status.ACTIVE or any(
        agent.status == Agent.Status.BUSY for agent in page_obj
    )
    context = {
        "project": project,
        "page_obj": page_obj,
        # What keeps each CLI agent from running here (its program missing), if anything.
        "agent_rows": [
            (agent, executor_check(agent.executor, agent.executor_command), _codes(agent))
            for agent in page_obj
        ],
        "can_write": membership.can_write,
        "agents_live": agents_live,
        "agent_form": AgentCreateForm(),
        **confinement_context(project),
    }
    return render(request, template_name, context)


def confinement_context(project: Project) -> dict[str, bool]:
    """What the run controls say about confinement: whether agents' commands and checks
    on this server run inside bubblewrap, for a project that has code to run them on."""
    return {"commands_confined": sandbox_available(), "has_repository": bool(project.root_path)}


@login_required
@require_POST
@sensitive_variables("issued")
def agent_create(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """Add an agent to the project. Writers only; errors come back on the agents page."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug, write=True)
    form = AgentCreateForm(request.POST)
    if form.is_valid():
        try:
            if form.cleaned_data["type"] == Agent.Type.EXTERNAL:
                issued = services.external_agent_create(
                    project=project,
                    name=form.cleaned_data["name"],
                    model=form.cleaned_data["model"],
                )
                return _issued_key_page(request, project, issued, created=True)
            agent = services.agent_create(project=project, **form.agent_fields())
        except DomainError as exc:
            messages.error(request, exc.message)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request, f"Added {agent.get_type_display().lower()} agent {agent.name}."
            )
    else:
        errors = [str(error) for field in form.errors.values() for error in field]
        messages.error(request, " ".join(errors) or "Give the agent a name and a type.")
    return redirect_or_client_redirect(request, reverse("agents:agent-list", args=[project.slug]))


def _codes(agent: Agent) -> bool:
    """Whether the agent is one whose code-writing executor a person may change: one the
    orchestrator dispatches, and not terminated."""
    return agent.type not in Agent.NOT_DISPATCHED_TYPES and agent.status != Agent.Status.TERMINATED


@login_required
@require_http_methods(["GET", "POST"])
def agent_executor(request: AuthenticatedHtmxRequest, slug: str, pk: int) -> HttpResponse:
    """GET shows what writes the agent's code; POST changes it through agent_update and
    goes back to the agents page. Writers only; external agents and the planner write no
    code here (404).

    A missing command, or one that cannot be split, answers 400 with the form
    (`#agent-executor-form` for htmx) showing the error on its field; a command whose
    program this server cannot find is saved, with a warning that says so.
    """
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug, write=True)
    agent = get_object_or_404(selectors.agent_list(project=project), pk=pk)
    if not _codes(agent):
        raise Http404("This agent has no executor to change.")
    context: dict[str, object] = {"project": project, "agent": agent}
    if request.method == "GET":
        context["form"] = AgentExecutorForm.for_agent(agent)
        return render(request, EXECUTOR_TEMPLATE, context)
    form = AgentExecutorForm(request.POST)
    if form.is_valid():
        data = {name: form.cleaned_data[name] for name in ("executor", "executor_command")}
        try:
            agent = services.agent_update(agent=agent, data=data)
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        except ValidationError as exc:
            # A command of the wrong shape (too many parts): shown on its field.
            form.add_error(None, exc)
        else:
            problem = executor_check(agent.executor, agent.executor_command)
            notice = f"{agent.name} now writes code with {_executor_words(agent)}"
            if problem:
                messages.warning(request, f"{notice}. It cannot run here yet: {problem}.")
            else:
                messages.success(request, notice)
            url = reverse("agents:agent-list", args=[project.slug])
            return redirect_or_client_redirect(request, url)
    context["form"] = form
    template = EXECUTOR_TEMPLATE
    if wants_fragment(request):
        template += "#agent-executor-form"
    return render(request, template, context, status=400)


def _executor_words(agent: Agent) -> str:
    if agent.executor == Executor.BUILTIN:
        return "the built-in loop"
    if agent.executor == Executor.COMMAND:
        return f"a command of your own: {command_line(agent.executor_command)}"
    return agent.get_executor_display()


@login_required
@require_http_methods(["GET", "POST"])
@sensitive_variables("issued")
def agent_key_issue(request: AuthenticatedHtmxRequest, slug: str, pk: int) -> HttpResponse:
    """GET asks to confirm; POST gives an external agent a new key, replacing its old one
    and showing the new one once. Writers only."""
    project, _ = planning_selectors.project_for_user(user=request.user, slug=slug, write=True)
    agent = get_object_or_404(selectors.agent_list(project=project), pk=pk)
    if request.method == "GET":
        return render(
            request, "agents/agent_key_confirm.html", {"project": project, "agent": agent}
        )
    try:
        issued = services.agent_key_issue(agent=agent)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect_or_client_redirect(
            request, reverse("agents:agent-list", args=[project.slug])
        )
    return _issued_key_page(request, project, issued, created=False)


@sensitive_variables("issued", "context")
def _issued_key_page(
    request: HtmxHttpRequest, project: Project, issued: services.IssuedKey, *, created: bool
) -> HttpResponse:
    """The one page that shows a key. It answers the POST that made the key: the key is
    never stored (not in messages, not behind a redirect) and the page is never cached."""
    context = {
        "project": project,
        "agent": issued.agent,
        "key": issued.key,
        "created": created,
        "claim_url": request.build_absolute_uri(
            reverse("agents-api:task-claim", kwargs={"project_slug": project.slug})
        ),
        "site_url": request.build_absolute_uri("/").rstrip("/"),
        "mcp_url": request.build_absolute_uri(reverse("mcp")),
        # Each profile's own tools, from the table both MCP servers serve.
        "mcp_profiles": [
            (profile, [tool.name for tool in TOOLS if tool.profile == profile])
            for profile in PROFILES
        ],
    }
    response = render(request, "agents/agent_key.html", context)
    add_never_cache_headers(response)
    return response
