"""The planning chat: a project's chats, one chat's transcript with proposed edits shown
as a diff, and applying or discarding a reply's edits. The assistant that answers a
message is the planning agent's (agents.views.planner); these pages show its replies."""

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from core.errors import DomainError
from core.htmx import AuthenticatedHtmxRequest, HtmxHttpRequest, redirect_or_client_redirect
from planning import selectors
from planning.forms import ChatMessageForm, ChatSessionForm
from planning.importers.document import PlanImportError
from planning.models import ConversationMessage, ConversationSession, Project
from planning.services.chat import (
    chat_edits_apply,
    chat_edits_discard,
    chat_session_create,
)
from planning.views.versions import DIFF_KINDS, value_lines

CHATS_PER_PAGE = 25
# Diff kinds a proposal can touch, and the edit entity that names their rows.
EDIT_ENTITIES = {"features": "feature", "tasks": "task"}


@dataclass
class ProposedChange:
    key: str
    fields: list[tuple[str, str, str]]  # (field, before, after)


@dataclass
class ProposalSection:
    label: str
    added: list[tuple[str, str]]  # (key, name)
    removed: list[str]
    changed: list[ProposedChange]


@dataclass
class EditProposal:
    """A reply's proposed edits as the diff a person reviews before applying them."""

    status: str  # proposed, applied or discarded
    summary: str
    operation_count: int
    sections: list[ProposalSection]
    edges_added: list[tuple[str, str]]
    edges_removed: list[tuple[str, str]]
    version: int | None

    @property
    def pending(self) -> bool:
        return self.status == "proposed"


@dataclass
class ChatEntry:
    message: ConversationMessage
    proposal: EditProposal | None
    error: str = ""


def chat_entry(message: ConversationMessage, error: str = "") -> ChatEntry:
    """A message as the transcript shows it, with the edits it proposes as a diff."""
    return ChatEntry(message=message, proposal=_edit_proposal(message.metadata), error=error)


def _edit_proposal(metadata: dict[str, Any]) -> EditProposal | None:
    edits = metadata.get("edits")
    if not edits:
        return None
    preview = metadata.get("preview") or {}
    names = {
        (edit.get("entity"), edit.get("key")): (edit.get("fields") or {}).get("name") or ""
        for edit in edits
        if edit.get("op") == "add"
    }
    sections = []
    for kind, label in DIFF_KINDS:
        part = preview.get(kind) or {}
        section = ProposalSection(
            label=label,
            added=[
                (key, names.get((EDIT_ENTITIES.get(kind), key), ""))
                for key in part.get("added", [])
            ],
            removed=list(part.get("removed", [])),
            changed=[
                ProposedChange(
                    key=change["key"],
                    fields=[
                        (name, _value_text(values.get("before")), _value_text(values.get("after")))
                        for name, values in change.get("fields", {}).items()
                    ],
                )
                for change in part.get("changed", [])
            ],
        )
        if section.added or section.removed or section.changed:
            sections.append(section)
    edges = preview.get("dependencies") or {}
    return EditProposal(
        status=metadata.get("edit_status", "proposed"),
        summary=preview.get("summary", ""),
        operation_count=len(edits),
        sections=sections,
        edges_added=[(task, dep) for task, dep in edges.get("added", [])],
        edges_removed=[(task, dep) for task, dep in edges.get("removed", [])],
        version=metadata.get("version"),
    )


def _value_text(value: Any) -> str:
    return "\n".join(value_lines(value)) or "—"


@login_required
@require_http_methods(["GET", "POST"])
def chat_list(request: AuthenticatedHtmxRequest, slug: str) -> HttpResponse:
    """The project's planning chats, newest first; POST starts a new chat and opens it."""
    creating = request.method == "POST"
    project, membership = selectors.project_for_user(user=request.user, slug=slug, write=creating)
    form = ChatSessionForm(request.POST if creating else None)
    if creating and form.is_valid():
        session = chat_session_create(
            project=project, actor=request.user, title=form.cleaned_data["title"]
        )
        url = reverse("planning:chat-detail", args=[project.slug, session.pk])
        return redirect_or_client_redirect(request, url)
    paginator = Paginator(selectors.chat_session_summary_list(project=project), CHATS_PER_PAGE)
    context = {
        "project": project,
        "can_write": membership.can_write,
        "page_obj": paginator.get_page(request.GET.get("page")),
        "session_form": form,
    }
    return render(request, "planning/chat_list.html", context, status=400 if creating else 200)


@login_required
@require_GET
def chat_detail(request: AuthenticatedHtmxRequest, slug: str, session_id: int) -> HttpResponse:
    """One chat: its transcript, with proposed edits as diffs, and the message form."""
    project, membership = selectors.project_for_user(user=request.user, slug=slug)
    session = selectors.chat_session_get(project=project, session_id=session_id)
    return render(
        request,
        "planning/chat_detail.html",
        chat_context(project, session, can_write=membership.can_write),
    )


def chat_context(
    project: Project, session: ConversationSession, *, can_write: bool, **extra: object
) -> dict[str, object]:
    """The whole chat page; `extra` replaces its parts (a posted form with its errors)."""
    return {
        "project": project,
        "session": session,
        "can_write": can_write,
        "entries": [chat_entry(m) for m in selectors.chat_message_list(session=session)],
        "message_form": ChatMessageForm(),
        **extra,
    }


@login_required
@require_POST
def chat_message_apply(
    request: AuthenticatedHtmxRequest, slug: str, session_id: int, message_id: int
) -> HttpResponse:
    """Apply a reply's proposed edits as a new version; answer with the reply
    (`#chat-message`) showing the outcome and send "plan-changed".

    Edits that no longer fit the plan, or were already applied or discarded, change
    nothing and answer 400 with the reason shown in the reply.
    """
    project, session, message = _chat_message_for_write(request, slug, session_id, message_id)
    error = success = ""
    try:
        version = chat_edits_apply(message=message, actor=request.user)
    except PlanImportError as exc:
        error = f"These edits no longer fit the plan, so nothing was changed: {exc}"
    except DomainError as exc:
        error = exc.message
    else:
        success = f"Applied the edits as version {version.number}."
    return _chat_message_outcome(request, project, session, message, error=error, success=success)


@login_required
@require_POST
def chat_message_discard(
    request: AuthenticatedHtmxRequest, slug: str, session_id: int, message_id: int
) -> HttpResponse:
    """Discard a reply's proposed edits; answer with the reply (`#chat-message`).

    Edits already applied or discarded answer 400 with the reason shown in the reply.
    """
    project, session, message = _chat_message_for_write(request, slug, session_id, message_id)
    error = success = ""
    try:
        chat_edits_discard(message=message)
    except DomainError as exc:
        error = exc.message
    else:
        success = "Discarded the proposed edits."
    return _chat_message_outcome(request, project, session, message, error=error, success=success)


def _chat_message_for_write(
    request: HttpRequest, slug: str, session_id: int, message_id: int
) -> tuple[Project, ConversationSession, ConversationMessage]:
    project, _ = selectors.project_for_user(user=request.user, slug=slug, write=True)
    session = selectors.chat_session_get(project=project, session_id=session_id)
    message = selectors.chat_message_get(session=session, message_id=message_id)
    return project, session, message


def _chat_message_outcome(
    request: HtmxHttpRequest,
    project: Project,
    session: ConversationSession,
    message: ConversationMessage,
    *,
    error: str,
    success: str,
) -> HttpResponse:
    if not request.htmx:
        if error:
            messages.error(request, error)
        elif success:
            messages.success(request, success)
        url = reverse("planning:chat-detail", args=[project.slug, session.pk])
        return redirect(f"{url}#chat-message-{message.pk}")
    message.refresh_from_db(fields=["metadata"])  # the service saved its own copy
    context = {
        "project": project,
        "session": session,
        "can_write": True,
        "entry": chat_entry(message, error=error),
    }
    # 400, not 409, for a conflict: the page swaps 400 answers only (see base.html).
    response = render(
        request,
        "planning/chat_detail.html#chat-message",
        context,
        status=400 if error else 200,
    )
    if not error and message.metadata.get("edit_status") == "applied":
        trigger_client_event(response, "plan-changed")
    return response
