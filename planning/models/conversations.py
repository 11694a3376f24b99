"""Planning chats: sessions and their messages."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.models import TimeStampedModel, choices_constraint
from core.shapes import ShapedJsonModel
from planning import shapes
from planning.models.projects import Project


class ConversationSessionKind(models.TextChoices):
    INTERVIEW = "interview"
    PLANNING = "planning"
    EXECUTION = "execution"


class ConversationSessionStatus(models.TextChoices):
    ACTIVE = "active"
    CLOSED = "closed"


class ConversationSession(ShapedJsonModel, TimeStampedModel):
    json_shapes = {"data": shapes.CONVERSATION_DATA}

    Kind = ConversationSessionKind

    Status = ConversationSessionStatus

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="conversations", db_index=False
    )
    kind = models.CharField(max_length=20, choices=Kind, default=Kind.PLANNING)
    status = models.CharField(max_length=20, choices=Status, default=Status.ACTIVE)
    title = models.CharField(max_length=200, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="conversations",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            choices_constraint("kind", ConversationSessionKind, name="conversation_kind_valid"),
            choices_constraint(
                "status", ConversationSessionStatus, name="conversation_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["project", "kind", "-created_at"], name="conv_list_idx")]

    def __str__(self) -> str:
        return self.title or f"{self.get_kind_display()} session {self.pk}"


class ConversationMessageRole(models.TextChoices):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class ConversationMessage(ShapedJsonModel):
    json_shapes = {"metadata": shapes.MESSAGE_METADATA}

    Role = ConversationMessageRole

    session = models.ForeignKey(
        ConversationSession, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    role = models.CharField(max_length=20, choices=Role)
    content = models.TextField(blank=True)
    token_count = models.PositiveIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            choices_constraint("role", ConversationMessageRole, name="message_role_valid")
        ]
        indexes = [models.Index(fields=["session", "created_at"], name="message_session_idx")]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"
