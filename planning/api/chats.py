"""Planning chats over the API."""

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from core.api.auth import request_user
from planning import selectors
from planning.api import serializers as s
from planning.api.scoping import (
    ProjectScopedViewMixin,
    project_scoped_schema,
)
from planning.importers.document import PlanImportError
from planning.models import (
    ConversationMessage,
    ConversationSession,
)
from planning.services.chat import (
    chat_edits_apply,
    chat_edits_discard,
    chat_session_create,
)


@project_scoped_schema
class ChatSessionViewSet(
    ProjectScopedViewMixin,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[ConversationSession],
):
    """Planning chat sessions. Post a message to `chats/{id}/messages/` to get the
    assistant's reply, which may propose edits; apply or discard them."""

    queryset_model = ConversationSession
    filter_backends = []

    def get_serializer_class(self) -> type[BaseSerializer[ConversationSession]]:
        if self.action == "retrieve":
            return s.ConversationSessionDetailSerializer
        return s.ConversationSessionSerializer

    def scoped_queryset(self) -> QuerySet[ConversationSession]:
        return selectors.chat_session_list(project=self.project)

    def perform_create(self, serializer: BaseSerializer[ConversationSession]) -> None:
        serializer.instance = chat_session_create(
            project=self.project,
            actor=request_user(self.request),
            title=serializer.validated_data.get("title", ""),
        )

    def _message(self, message_id: str) -> ConversationMessage:
        session = self.get_object()
        message = session.messages.filter(pk=message_id).first() if message_id.isdigit() else None
        if message is None:
            raise Http404("No such message in this chat.")
        return message

    @extend_schema(
        request=None,
        responses={201: s.DevPlanVersionSerializer, 400: s.ImportErrorSerializer},
        parameters=[OpenApiParameter("message_id", OpenApiTypes.INT, OpenApiParameter.PATH)],
    )
    @action(detail=True, methods=["post"], url_path=r"messages/(?P<message_id>\d+)/apply")
    def apply(self, request: Request, project_slug: str, pk: str, message_id: str) -> Response:
        try:
            version = chat_edits_apply(
                message=self._message(message_id), actor=request_user(request)
            )
        except PlanImportError as exc:
            return Response(
                {"detail": str(exc), "file": None, "line": None}, status=status.HTTP_400_BAD_REQUEST
            )
        return Response(s.DevPlanVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses={200: s.ConversationMessageSerializer},
        parameters=[OpenApiParameter("message_id", OpenApiTypes.INT, OpenApiParameter.PATH)],
    )
    @action(detail=True, methods=["post"], url_path=r"messages/(?P<message_id>\d+)/discard")
    def discard(self, request: Request, project_slug: str, pk: str, message_id: str) -> Response:
        message = chat_edits_discard(message=self._message(message_id))
        return Response(s.ConversationMessageSerializer(message).data)
