"""The planning chat: questions about the plan, and proposed edits a person applies."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from pydantic import ValidationError

from core.errors import ConflictError, DomainError
from planning import selectors
from planning.diff import diff_snapshots
from planning.importers.document import PlanDocument, PlanImportError
from planning.models import ConversationMessage, ConversationSession, DevPlanVersion, Project
from planning.plan_schema import (
    apply_plan_edits,
    describe_validation_error,
    parse_plan_edits,
    refuse_nul_characters,
)
from planning.prompts import ChatReply
from planning.services.plans import plan_apply_or_explain
from planning.services.versions import version_create


@transaction.atomic
def chat_session_create(
    *, project: Project, actor: User | None = None, title: str = ""
) -> ConversationSession:
    session = ConversationSession(
        project=project,
        kind=ConversationSession.Kind.PLANNING,
        title=title[:200],
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    session.full_clean()
    session.save()
    return session


def plan_facts(*, project: Project) -> dict[str, Any]:
    """What the assistant is told about the plan with every question."""
    analytics = selectors.plan_analytics(project=project)
    nxt = selectors.task_next_ready(project=project)
    document = selectors.plan_document(project=project)
    return {
        "next": {"key": nxt.key, "name": nxt.name, "needs_human": nxt.needs_human} if nxt else None,
        "blocked": analytics.blocked,
        "in_progress": analytics.in_progress,
        "ready": analytics.ready[:50],
        "progress": [
            {"key": p.key, "name": p.name, "done": p.done, "total": p.total}
            for p in analytics.progress
        ],
        "features": [{"key": f.key, "name": f.name} for f in document.features],
        "tasks": [
            {
                "key": t.key,
                "name": t.name,
                "feature": t.feature,
                "status": t.status,
                "depends_on": t.depends_on,
            }
            for t in document.tasks[:500]
        ],
    }


@transaction.atomic
def chat_message_add(
    *,
    session: ConversationSession,
    role: str,
    content: str,
    metadata: dict[str, Any] | None = None,
    token_count: int = 0,
) -> ConversationMessage:
    """Record a message of the conversation: a person's question or the assistant's reply."""
    message = ConversationMessage(
        session=session,
        role=role,
        content=content,
        metadata=metadata or {},
        token_count=token_count,
    )
    message.full_clean()
    message.save()
    return message


def chat_reply_read(*, content: str, current: PlanDocument) -> tuple[str, dict[str, Any]]:
    """The assistant's answer in a model's reply, and the message metadata that goes with
    it: the edits it proposes, checked against the `current` plan and shown as a diff.

    Raises PlanImportError saying what is wrong: a reply that is not JSON of the reply
    schema, or edits that do not apply.
    """
    try:
        reply = ChatReply.model_validate_json(content)
    except ValidationError as exc:
        raise PlanImportError(describe_validation_error(exc)) from None
    refuse_nul_characters(reply)
    metadata: dict[str, Any] = {}
    if reply.edits:
        edited = apply_plan_edits(current, reply.edits)
        metadata = {
            "edits": [e.model_dump(exclude_none=True) for e in reply.edits],
            "edit_status": "proposed",
            "preview": diff_snapshots(current.to_snapshot(), edited.to_snapshot()).as_dict(),
        }
    return reply.reply, metadata


def _proposal(message: ConversationMessage) -> list[Any]:
    if message.role != ConversationMessage.Role.ASSISTANT or not message.metadata.get("edits"):
        raise DomainError("This message proposes no edits.")
    status = message.metadata.get("edit_status")
    if status != "proposed":
        raise ConflictError(f"These edits were already {status}.")
    edits: list[Any] = message.metadata["edits"]
    return edits


@transaction.atomic
def chat_edits_apply(*, message: ConversationMessage, actor: User | None = None) -> DevPlanVersion:
    """Apply a reply's proposed edits to the working plan as one new version.

    The edits are re-checked against the plan as it is now; if any no longer applies,
    none is applied (PlanImportError). Raises ConflictError when already applied or
    discarded.
    """
    message = (
        ConversationMessage.objects.select_for_update()
        .select_related("session__project")
        .get(pk=message.pk)
    )
    edits = parse_plan_edits(_proposal(message))
    project = message.session.project
    edited = apply_plan_edits(selectors.plan_document(project=project), edits)
    plan_apply_or_explain(project=project, document=edited, prune=True)
    version = version_create(
        project=project,
        summary=f"Chat edits from session {message.session_id}: {len(edits)} operations",
        actor=actor,
        only_if_changed=False,
    )
    message.metadata = {**message.metadata, "edit_status": "applied", "version": version.number}
    message.save(update_fields=["metadata"])
    return version


@transaction.atomic
def chat_edits_discard(*, message: ConversationMessage) -> ConversationMessage:
    message = ConversationMessage.objects.select_for_update().get(pk=message.pk)
    _proposal(message)
    message.metadata = {**message.metadata, "edit_status": "discarded"}
    message.save(update_fields=["metadata"])
    return message
