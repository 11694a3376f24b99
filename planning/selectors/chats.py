"""Planning chats and their messages."""

from django.db.models import (
    Count,
    Max,
    OuterRef,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Left
from django.http import Http404

from planning.models import (
    ConversationMessage,
    ConversationSession,
    Project,
)

CHAT_PREVIEW_CHARS = 120  # of a chat's opening question, on list pages


def chat_session_list(*, project: Project) -> QuerySet[ConversationSession]:
    """The project's planning chats, newest first, with their messages prefetched."""
    return (
        project.conversations.filter(kind=ConversationSession.Kind.PLANNING)
        .select_related("created_by")
        .prefetch_related("messages")
        .order_by("-created_at", "-id")
    )


def chat_session_summary_list(*, project: Project) -> QuerySet[ConversationSession]:
    """The project's planning chats, newest first, each with its message count, last
    activity and opening question (for list pages; no messages are loaded)."""
    opening = (
        ConversationMessage.objects.filter(
            session=OuterRef("pk"), role=ConversationMessage.Role.USER
        )
        .order_by("created_at", "id")
        .values("content")[:1]
    )
    return (
        project.conversations.filter(kind=ConversationSession.Kind.PLANNING)
        .select_related("created_by")
        .annotate(
            message_count=Count("messages"),
            last_message_at=Max("messages__created_at"),
            opening_question=Left(Subquery(opening), CHAT_PREVIEW_CHARS),
        )
        .order_by("-created_at", "-id")
    )


def chat_session_get(*, project: Project, session_id: int) -> ConversationSession:
    """One of the project's planning chats. Raises Http404 for any other session."""
    session = (
        project.conversations.filter(kind=ConversationSession.Kind.PLANNING, pk=session_id)
        .select_related("created_by")
        .first()
    )
    if session is None:
        raise Http404("No such chat in this project.")
    return session


def chat_message_list(*, session: ConversationSession) -> QuerySet[ConversationMessage]:
    """The transcript a person reads: user and assistant messages, oldest first."""
    return session.messages.filter(
        role__in=[ConversationMessage.Role.USER, ConversationMessage.Role.ASSISTANT]
    ).order_by("created_at", "id")


def chat_history(*, session: ConversationSession, limit: int) -> list[ConversationMessage]:
    """The session's last `limit` messages, oldest first: what the assistant is sent
    along with a new question."""
    return list(session.messages.order_by("-created_at", "-id")[:limit])[::-1]


def chat_message_get(*, session: ConversationSession, message_id: int) -> ConversationMessage:
    """One message of the session. Raises Http404 for a message of another session."""
    message = session.messages.filter(pk=message_id).first()
    if message is None:
        raise Http404("No such message in this chat.")
    return message
