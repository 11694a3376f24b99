"""The planning agent over the API: generating a plan, and the chat's replies."""

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import selectors
from agents.api.serializers import AgentRunSerializer
from agents.models import AgentRun
from agents.services import planner
from core.api.auth import request_user
from planning import selectors as planning_selectors
from planning.api import serializers as planning_serializers
from planning.api.scoping import ProjectScopedViewMixin, project_scoped_schema
from planning.models import ConversationSession


@project_scoped_schema
class PlanGenerateView(ProjectScopedViewMixin, APIView):
    """Queue a planning agent run that turns requirements into a plan (a new version).

    Poll the run at `agent-runs/{id}/`: `result.stage` shows progress, and a finished run
    has `status` succeeded (with `result.version`) or failed (with `error`)."""

    queryset_model = AgentRun

    def scoped_queryset(self) -> QuerySet[AgentRun]:
        return selectors.planning_run_list(project=self.project)

    @extend_schema(
        request=planning_serializers.GenerateRequestSerializer,
        responses={202: AgentRunSerializer},
    )
    def post(self, request: Request, project_slug: str) -> Response:
        serializer = planning_serializers.GenerateRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = planner.plan_generation_start(
            project=self.project,
            requirements=serializer.validated_data["requirements"],
            actor=request_user(request),
        )
        return Response(AgentRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


@project_scoped_schema
@extend_schema(parameters=[OpenApiParameter("run_id", OpenApiTypes.INT, OpenApiParameter.PATH)])
class PlanGenerateRetryView(ProjectScopedViewMixin, APIView):
    """Queue a new plan generation with the requirements of one that failed (or was
    cancelled); poll the new run as `generate/` says. 400 for a run that did not fail."""

    queryset_model = AgentRun

    def scoped_queryset(self) -> QuerySet[AgentRun]:
        return selectors.planning_run_list(project=self.project)

    @extend_schema(request=None, responses={202: AgentRunSerializer})
    def post(self, request: Request, project_slug: str, run_id: int) -> Response:
        failed = selectors.planning_run_get(project=self.project, run_id=run_id)
        run = planner.plan_generation_retry(run=failed, actor=request_user(request))
        return Response(AgentRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


@project_scoped_schema
class ChatMessageSendView(ProjectScopedViewMixin, APIView):
    """Ask the planning assistant in a chat session; answers with its reply, which may
    propose edits (apply or discard them under `chats/{id}/messages/{message_id}/`)."""

    queryset_model = ConversationSession

    def scoped_queryset(self) -> QuerySet[ConversationSession]:
        return planning_selectors.chat_session_list(project=self.project)

    @extend_schema(
        request=planning_serializers.ChatMessageCreateSerializer,
        responses={201: planning_serializers.ConversationMessageSerializer},
        parameters=[
            OpenApiParameter(
                "id",
                OpenApiTypes.INT,
                OpenApiParameter.PATH,
                description="A unique integer value identifying this conversation session.",
            )
        ],
    )
    def post(self, request: Request, project_slug: str, id: int) -> Response:
        # `id`, as the chat session routes beside it name the session.
        session = planning_selectors.chat_session_get(project=self.project, session_id=id)
        serializer = planning_serializers.ChatMessageCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reply = planner.chat_message_send(
            session=session,
            content=serializer.validated_data["content"],
            actor=request_user(request),
        )
        return Response(
            planning_serializers.ConversationMessageSerializer(reply).data,
            status=status.HTTP_201_CREATED,
        )
