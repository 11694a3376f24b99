"""The planning chat: questions about the plan, and proposed edits a person applies."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from pydantic import ValidationError

from agents.llm import ChatMessage, LLMError, UsageContext, get_llm_client, json_schema_format
from core.errors import ConflictError, DomainError
from planning import selectors
from planning.diff import diff_snapshots
from planning.generation import (
    CHAT_PURPOSE,
    CHAT_SYSTEM_PROMPT,
    ChatReply,
    chat_reply_schema,
    facts_message,
)
from planning.importers.document import PlanImportError
from planning.models import ConversationMessage, ConversationSession, DevPlanVersion, Project
from planning.plan_schema import (
    apply_plan_edits,
    describe_validation_error,
    parse_plan_edits,
    refuse_nul_characters,
)
from planning.services.plans import plan_apply_or_explain
from planning.services.versions import version_create

MAX_ATTEMPTS = 3
HISTORY = 20  # earlier messages sent along with a new question


@transaction.atomic
def chat_session_create(
    *, project: Project, actor: AbstractBaseUser | None = None, title: str = ""
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


def chat_message_send(
    *, session: ConversationSession, content: str, actor: AbstractBaseUser | None = None
) -> ConversationMessage:
    """Record the user's message and the assistant's reply, which may propose edits.

    Proposed edits are checked against the current plan before they are offered; a reply
    that is not valid JSON of the reply schema, or whose edits cannot apply, goes back to
    the model with the problems (at most MAX_ATTEMPTS calls). Raises DomainError for an
    empty message; model failures become an assistant message that says what went wrong.
    """
    if not content.strip():
        raise DomainError("Write a message first.", field="content")
    project = session.project
    with transaction.atomic():
        ConversationMessage.objects.create(
            session=session,
            role=ConversationMessage.Role.USER,
            content=content,
            metadata={"author": getattr(actor, "username", None)},
        )
    history = list(session.messages.order_by("-created_at", "-id")[: HISTORY + 1])[::-1]
    messages = [
        ChatMessage.system(CHAT_SYSTEM_PROMPT),
        ChatMessage.system(facts_message(plan_facts(project=project))),
        *(
            ChatMessage(role=m.role, content=m.content)
            for m in history
            if m.role in (ConversationMessage.Role.USER, ConversationMessage.Role.ASSISTANT)
        ),
    ]
    client = get_llm_client()
    context = UsageContext(project=project, purpose=CHAT_PURPOSE)
    response_format = json_schema_format("chat_reply", chat_reply_schema(), strict=False)
    current = selectors.plan_document(project=project)
    metadata: dict[str, Any] = {}
    reply_text = ""
    tokens = 0
    problem = ""
    try:
        for _ in range(MAX_ATTEMPTS):
            completion = client.complete(messages, response_format=response_format, context=context)
            tokens += completion.usage.output_tokens
            try:
                reply = ChatReply.model_validate_json(completion.content or "")
                refuse_nul_characters(reply)
                if reply.edits:
                    edited = apply_plan_edits(current, reply.edits)
                    metadata = {
                        "edits": [e.model_dump(exclude_none=True) for e in reply.edits],
                        "edit_status": "proposed",
                        "preview": diff_snapshots(
                            current.to_snapshot(), edited.to_snapshot()
                        ).as_dict(),
                    }
                reply_text = reply.reply
                break
            except ValidationError as exc:
                problem = describe_validation_error(exc)
            except PlanImportError as exc:
                problem = str(exc)
            messages += [
                completion.as_message(),
                ChatMessage.user(
                    f"That reply was not usable. Fix these problems and reply again:\n{problem}"
                ),
            ]
        else:
            reply_text = f"I could not produce a valid answer ({problem})."
            metadata = {"error": problem}
    except LLMError as exc:
        reply_text = f"The model could not be reached: {exc}"
        metadata = {"error": str(exc)}
    with transaction.atomic():
        return ConversationMessage.objects.create(
            session=session,
            role=ConversationMessage.Role.ASSISTANT,
            content=reply_text,
            token_count=tokens,
            metadata=metadata,
        )


def _proposal(message: ConversationMessage) -> list[Any]:
    if message.role != ConversationMessage.Role.ASSISTANT or not message.metadata.get("edits"):
        raise DomainError("This message proposes no edits.")
    status = message.metadata.get("edit_status")
    if status != "proposed":
        raise ConflictError(f"These edits were already {status}.")
    return message.metadata["edits"]


@transaction.atomic
def chat_edits_apply(
    *, message: ConversationMessage, actor: AbstractBaseUser | None = None
) -> DevPlanVersion:
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
