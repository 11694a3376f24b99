"""Planning chats over the API, and asking for a plan."""

from typing import Any

from django.contrib.auth.models import User
from rest_framework import serializers

from planning.models import ConversationMessage, ConversationSession


class GenerateRequestSerializer(serializers.Serializer[Any]):
    requirements = serializers.CharField(
        max_length=50_000, help_text="What to build, as prose or a Markdown list."
    )


class ConversationMessageSerializer(serializers.ModelSerializer[ConversationMessage]):
    class Meta:
        model = ConversationMessage
        fields = ["id", "role", "content", "token_count", "metadata", "created_at"]
        read_only_fields = fields


class ConversationSessionSerializer(serializers.ModelSerializer[ConversationSession]):
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = ConversationSession
        fields = ["id", "kind", "status", "title", "created_by", "created_at", "updated_at"]
        read_only_fields = ["id", "kind", "status", "created_by", "created_at", "updated_at"]


class ConversationSessionDetailSerializer(ConversationSessionSerializer):
    messages = ConversationMessageSerializer(many=True, read_only=True)

    class Meta(ConversationSessionSerializer.Meta):
        fields = [*ConversationSessionSerializer.Meta.fields, "messages"]


class ChatMessageCreateSerializer(serializers.Serializer[Any]):
    content = serializers.CharField(max_length=20_000)
