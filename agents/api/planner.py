"""The planning agent over the API: generating a plan, expanding a task, and the chat's
replies."""

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import selectors
from agents.api.serializers import AgentRunSerializer
from agents.models import AgentRun
from agents.services import planner
from agents.services.task_expansion import DEFAULT_SUBTASKS, Expansion, task_expand
from core.api.auth import request_user
from planning import selectors as planning_selectors
from planning.api import serializers as planning_serializers
from planning.api.scoping import ProjectScopedViewMixin, project_scoped_schema
from planning.models import ConversationSession, Task
from planning.plan_schema import MAX_SUBTASKS


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


class ExpandRequestSerializer(serializers.Serializer[Any]):
    num = serializers.IntegerField(
        min_value=1,
        max_value=MAX_SUBTASKS,
        default=DEFAULT_SUBTASKS,
        help_text="At most this many subtasks.",
    )
    force = serializers.BooleanField(
        default=False,
        help_text="Replace the task's subtasks, when it has some and all are still pending.",
    )


class ExpansionSerializer(serializers.Serializer[Any]):
    task = planning_serializers.TaskSerializer()
    subtasks = planning_serializers.TaskSerializer(many=True)
    replaced = serializers.ListField(
        child=serializers.CharField(), help_text="Keys of the subtasks that force replaced."
    )


def expansion_response(expansion: Expansion) -> Response:
    """The expanded task and its new subtasks, read again with their relations."""
    tasks = planning_selectors.task_list(project=expansion.task.project)
    keys = [expansion.task.key, *(subtask.key for subtask in expansion.subtasks)]
    by_key = {task.key: task for task in tasks.filter(key__in=keys)}
    answer = {
        "task": by_key[expansion.task.key],
        "subtasks": [by_key[subtask.key] for subtask in expansion.subtasks],
        "replaced": expansion.replaced,
    }
    return Response(ExpansionSerializer(answer).data, status=status.HTTP_201_CREATED)


EXPAND_DESCRIPTION = (
    "Ask the planning model to split the task into subtasks (`<key>.<n>`), answered "
    "inline. A task that has subtasks is a 409 unless `force` replaces them; a reply the "
    "model cannot get right, or an unreachable model, is a 502, and nothing is written."
)


@project_scoped_schema
class TaskExpandView(ProjectScopedViewMixin, APIView):
    queryset_model = Task

    def scoped_queryset(self) -> QuerySet[Task]:
        return self.project.tasks.all()

    @extend_schema(
        request=ExpandRequestSerializer,
        responses={201: ExpansionSerializer},
        description=EXPAND_DESCRIPTION,
    )
    def post(self, request: Request, project_slug: str, key: str) -> Response:
        task = get_object_or_404(self.get_queryset(), key=key)
        serializer = ExpandRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        expansion = task_expand(task=task, actor=request_user(request), **serializer.validated_data)
        return expansion_response(expansion)


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
