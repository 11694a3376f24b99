"""Running a project, steering runs, and answering human checkpoints over the API."""

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.api.serializers import AgentRunSerializer
from agents.models import AgentRun
from agents.services import orchestrator, runs
from core.api.auth import request_user
from planning.api.scoping import ProjectScopedViewMixin, project_scoped_schema
from planning.api.serializers import TaskSerializer
from planning.models import Task


class ProjectRunActionSerializer(serializers.Serializer[Any]):
    action = serializers.ChoiceField(choices=["start", "pause", "cancel"])


class ProjectRunResultSerializer(serializers.Serializer[Any]):
    status = serializers.CharField()
    started = AgentRunSerializer(many=True)
    cancelled = serializers.IntegerField()


class CheckpointAnswerSerializer(serializers.Serializer[Any]):
    approved = serializers.BooleanField()
    choice = serializers.CharField(required=False, allow_blank=True, default="")
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class _ScopedAPIView(ProjectScopedViewMixin, APIView):
    queryset_model = AgentRun

    def scoped_queryset(self) -> QuerySet[AgentRun]:
        return AgentRun.objects.filter(project=self.project)


@project_scoped_schema
class ProjectRunView(_ScopedAPIView):
    """Start (or resume), pause or cancel the project's agent work."""

    @extend_schema(request=ProjectRunActionSerializer, responses=ProjectRunResultSerializer)
    def post(self, request: Request, project_slug: str) -> Response:
        serializer = ProjectRunActionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        action = serializer.validated_data["action"]
        started: list[AgentRun] = []
        cancelled = 0
        if action == "start":
            started = orchestrator.project_run_start(
                project=self.project, actor=request_user(request)
            )
        elif action == "pause":
            orchestrator.project_run_pause(project=self.project)
        else:
            cancelled = orchestrator.project_run_cancel(project=self.project)
        self.project.refresh_from_db()
        return Response(
            {
                "status": self.project.status,
                "started": AgentRunSerializer(started, many=True).data,
                "cancelled": cancelled,
            }
        )


def _run(view: _ScopedAPIView, run_id: int) -> AgentRun:
    run = AgentRun.objects.filter(project=view.project, pk=run_id).first()
    if run is None:
        raise Http404("No such run.")
    return run


@project_scoped_schema
class RunCancelView(_ScopedAPIView):
    @extend_schema(request=None, responses=AgentRunSerializer)
    def post(self, request: Request, project_slug: str, pk: int) -> Response:
        run = runs.run_cancel(run=_run(self, pk), reason=f"cancelled by {request.user}")
        return Response(AgentRunSerializer(run).data)


@project_scoped_schema
class RunRetryView(_ScopedAPIView):
    @extend_schema(request=None, responses=AgentRunSerializer)
    def post(self, request: Request, project_slug: str, pk: int) -> Response:
        run = runs.run_retry(run=_run(self, pk))
        return Response(AgentRunSerializer(run).data)


@project_scoped_schema
class HumanCheckpointListView(ProjectScopedViewMixin, APIView):
    """`checkpoint:*` tasks waiting for a person (not done or cancelled)."""

    queryset_model = Task

    @extend_schema(responses=TaskSerializer(many=True))
    def get(self, request: Request, project_slug: str) -> Response:
        tasks = [c.task for c in orchestrator.human_checkpoint_list(project=self.project)]
        return Response(TaskSerializer(tasks, many=True, context={"project": self.project}).data)


@project_scoped_schema
class HumanCheckpointAnswerView(ProjectScopedViewMixin, APIView):
    """Approve or reject a checkpoint task (or pick an option of a decision); logged as a
    decision."""

    queryset_model = Task

    @extend_schema(request=CheckpointAnswerSerializer, responses={200: TaskSerializer})
    def post(self, request: Request, project_slug: str, key: str) -> Response:
        task = self.project.tasks.filter(key=key).first()
        if task is None:
            raise Http404("No such task.")
        serializer = CheckpointAnswerSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task = orchestrator.human_checkpoint_answer(
            task=task, actor=request_user(request), **serializer.validated_data
        )
        return Response(
            TaskSerializer(task, context={"project": self.project}).data, status=status.HTTP_200_OK
        )
