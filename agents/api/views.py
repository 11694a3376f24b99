from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from django.http import Http404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from agents import selectors, services
from agents.api import serializers as s
from agents.filters import (
    AgentFilterSet,
    AgentRunFilterSet,
    DecisionFilterSet,
    MetricFilterSet,
    ToolCallFilterSet,
)
from agents.models import (
    Agent,
    AgentRun,
    AgentState,
    Checkpoint,
    DecisionLog,
    Metric,
    PlanningCycle,
    ToolCall,
)
from core.api.auth import request_user
from core.api.pagination import LogCursorPagination
from planning.api.scoping import ProjectScopedViewMixin, project_scoped_schema


@project_scoped_schema
class AgentViewSet(ProjectScopedViewMixin, viewsets.ModelViewSet[Agent]):
    """The project's agents. Setting status `terminated` stamps terminated_at."""

    queryset_model = Agent
    serializer_class = s.AgentSerializer
    filterset_class = AgentFilterSet
    ordering_fields = ["name", "type", "status", "created_at", "last_activity_at"]

    def scoped_queryset(self) -> QuerySet[Agent]:
        return selectors.agent_list(project=self.project)

    def perform_create(self, serializer: BaseSerializer[Agent]) -> None:
        serializer.instance = services.agent_create(
            project=self.project, **serializer.validated_data
        )

    def perform_update(self, serializer: BaseSerializer[Agent]) -> None:
        # DRF updates the object it fetched: an update serializer always has it.
        assert serializer.instance is not None
        serializer.instance = services.agent_update(
            agent=serializer.instance, data=serializer.validated_data
        )

    def perform_destroy(self, instance: Agent) -> None:
        services.agent_delete(agent=instance)


@project_scoped_schema
class AgentRunViewSet(
    ProjectScopedViewMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet[AgentRun],
):
    """Runs of the project's agents. A repeated idempotency key is a 409."""

    queryset_model = AgentRun
    serializer_class = s.AgentRunSerializer
    filterset_class = AgentRunFilterSet
    ordering_fields = ["created_at", "status", "started_at", "finished_at"]

    def scoped_queryset(self) -> QuerySet[AgentRun]:
        return selectors.agent_run_list(project=self.project)

    def perform_create(self, serializer: BaseSerializer[AgentRun]) -> None:
        serializer.instance = services.agent_run_create(
            project=self.project, **serializer.validated_data
        )


LogModel = TypeVar("LogModel", bound=Model)


class AppendOnlyLogViewSet(
    ProjectScopedViewMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet[LogModel],
):
    """List, retrieve and create only: the database rejects changes to these rows."""

    pagination_class = LogCursorPagination
    # The cursor pages over `-id`; any other ordering would break its stability.
    filter_backends = [DjangoFilterBackend]


@project_scoped_schema
class ToolCallViewSet(AppendOnlyLogViewSet[ToolCall]):
    """Tool calls. POST logs the start; POST `{id}/complete/` logs the end.

    The list shows each call once (its started row) with the completion nested.
    """

    queryset_model = ToolCall
    serializer_class = s.ToolCallSerializer
    filterset_class = ToolCallFilterSet

    def scoped_queryset(self) -> QuerySet[ToolCall]:
        return selectors.tool_call_list(project=self.project, completion_rows=self.action != "list")

    def perform_create(self, serializer: BaseSerializer[ToolCall]) -> None:
        serializer.instance = services.tool_call_start(
            project=self.project, **serializer.validated_data
        )


@project_scoped_schema
class ToolCallCompleteView(ProjectScopedViewMixin, generics.GenericAPIView[ToolCall]):
    """Log how a tool call ended. A call completes once: a second completion is a 409."""

    queryset_model = ToolCall
    serializer_class = s.ToolCallCompleteSerializer
    filter_backends = []

    def scoped_queryset(self) -> QuerySet[ToolCall]:
        return selectors.tool_call_list(project=self.project, completion_rows=True)

    @extend_schema(
        request=s.ToolCallCompleteSerializer,
        responses={201: s.ToolCallSerializer},
        description="Insert the completion row of a started tool call. 409 when the call "
        "is already complete; 400 when the id is itself a completion row.",
    )
    def post(self, request: Request, **kwargs: Any) -> Response:
        started = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        completion = services.tool_call_complete(started=started, **serializer.validated_data)
        data = s.ToolCallSerializer(completion, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_201_CREATED)


@project_scoped_schema
class PlanningCycleViewSet(AppendOnlyLogViewSet[PlanningCycle]):
    """Planning cycles. POST opens one with goals; POST `{id}/close/` closes it.

    The list shows each cycle once (its active row) with the closing row nested.
    """

    queryset_model = PlanningCycle
    serializer_class = s.PlanningCycleSerializer
    filterset_fields = ["agent", "run"]

    def scoped_queryset(self) -> QuerySet[PlanningCycle]:
        return selectors.planning_cycle_list(
            project=self.project, closing_rows=self.action != "list"
        )

    def perform_create(self, serializer: BaseSerializer[PlanningCycle]) -> None:
        serializer.instance = services.planning_cycle_open(
            project=self.project, **serializer.validated_data
        )


@project_scoped_schema
class PlanningCycleCloseView(ProjectScopedViewMixin, generics.GenericAPIView[PlanningCycle]):
    """Close a planning cycle as completed or abandoned. A second close is a 409."""

    queryset_model = PlanningCycle
    serializer_class = s.PlanningCycleCloseSerializer
    filter_backends = []

    def scoped_queryset(self) -> QuerySet[PlanningCycle]:
        return selectors.planning_cycle_list(project=self.project, closing_rows=True)

    @extend_schema(
        request=s.PlanningCycleCloseSerializer,
        responses={201: s.PlanningCycleSerializer},
        description="Insert the closing row of an active planning cycle. 409 when the "
        "cycle is already closed; 400 when the id is itself a closing row.",
    )
    def post(self, request: Request, **kwargs: Any) -> Response:
        cycle = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        closing = services.planning_cycle_close(cycle=cycle, **serializer.validated_data)
        data = s.PlanningCycleSerializer(closing, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_201_CREATED)


@project_scoped_schema
class DecisionViewSet(AppendOnlyLogViewSet[DecisionLog]):
    """Decisions and the reasoning behind them."""

    queryset_model = DecisionLog
    serializer_class = s.DecisionSerializer
    filterset_class = DecisionFilterSet

    def scoped_queryset(self) -> QuerySet[DecisionLog]:
        return selectors.decision_list(project=self.project)

    def perform_create(self, serializer: BaseSerializer[DecisionLog]) -> None:
        serializer.instance = services.decision_record(
            project=self.project, **serializer.validated_data
        )


@project_scoped_schema
class MetricViewSet(AppendOnlyLogViewSet[Metric]):
    """Measurements: tokens, cost, durations, QA iterations."""

    queryset_model = Metric
    serializer_class = s.MetricSerializer
    filterset_class = MetricFilterSet

    def scoped_queryset(self) -> QuerySet[Metric]:
        return selectors.metric_list(project=self.project)

    def perform_create(self, serializer: BaseSerializer[Metric]) -> None:
        serializer.instance = services.metric_record(
            project=self.project, **serializer.validated_data
        )


@project_scoped_schema
class CheckpointViewSet(ProjectScopedViewMixin, viewsets.ModelViewSet[Checkpoint]):
    """Snapshots of project state: the plan, task execution fields, agent state and the
    git commit of the project's root_path. POST takes a name and a reason and captures
    the rest; only the name and reason can change afterwards."""

    queryset_model = Checkpoint
    serializer_class = s.CheckpointSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    ordering_fields = ["created_at", "name"]

    def scoped_queryset(self) -> QuerySet[Checkpoint]:
        return selectors.checkpoint_list(project=self.project)

    def perform_create(self, serializer: BaseSerializer[Checkpoint]) -> None:
        serializer.instance = services.checkpoint_snapshot(
            project=self.project, actor=request_user(self.request), **serializer.validated_data
        )

    def perform_update(self, serializer: BaseSerializer[Checkpoint]) -> None:
        # DRF updates the object it fetched: an update serializer always has it.
        assert serializer.instance is not None
        serializer.instance = services.checkpoint_update(
            checkpoint=serializer.instance, data=serializer.validated_data
        )

    def perform_destroy(self, instance: Checkpoint) -> None:
        services.checkpoint_delete(checkpoint=instance)

    @extend_schema(
        request=None,
        responses={200: s.CheckpointDiffSerializer},
        description="What restoring the checkpoint would change, from now (`before`) to "
        "the checkpoint (`after`): the plan, task execution fields, agent state, and the "
        "git commit (reported only). 400 when its state is not a Crewboard snapshot.",
    )
    @action(detail=True, methods=["get"])
    def diff(self, request: Request, **kwargs: Any) -> Response:
        checkpoint = self.get_object()
        checkpoint.project = self.project
        diff = services.checkpoint_diff(checkpoint=checkpoint)
        return Response(s.CheckpointDiffSerializer(diff.as_dict()).data)

    @extend_schema(
        request=s.CheckpointRestoreOptionsSerializer,
        responses={200: s.CheckpointRestoreSerializer},
        description="Put the plan, task execution fields and agent state back as captured, "
        "in one transaction, and log it as a decision. Files are not touched; with "
        "`git_branch`, a branch is pointed at the checkpoint's commit first. 400 (and "
        "nothing written) when the checkpoint cannot be restored.",
    )
    @action(detail=True, methods=["post"])
    def restore(self, request: Request, **kwargs: Any) -> Response:
        checkpoint = self.get_object()
        checkpoint.project = self.project
        options = s.CheckpointRestoreOptionsSerializer(data=request.data)
        options.is_valid(raise_exception=True)
        decision = services.checkpoint_restore(
            checkpoint=checkpoint,
            actor=request_user(request),
            git_branch=options.validated_data["git_branch"],
        )
        result = {
            "summary": decision.reasoning["summary"],
            "warnings": decision.reasoning.get("warnings", []),
            "git_branch": decision.reasoning.get("git_branch"),
            "decision": decision,
        }
        return Response(
            s.CheckpointRestoreSerializer(result, context=self.get_serializer_context()).data
        )


STATE_KEY_PARAMETERS = [
    OpenApiParameter("namespace", OpenApiTypes.STR, OpenApiParameter.PATH),
    OpenApiParameter("key", OpenApiTypes.STR, OpenApiParameter.PATH),
]


@project_scoped_schema
class AgentStateViewSet(ProjectScopedViewMixin, viewsets.ModelViewSet[AgentState]):
    """The project's key-value store, by id or by `{namespace}/{key}/`."""

    queryset_model = AgentState
    serializer_class = s.AgentStateSerializer
    filterset_fields = ["namespace"]
    ordering_fields = ["namespace", "key", "updated_at"]

    def scoped_queryset(self) -> QuerySet[AgentState]:
        return selectors.agent_state_list(project=self.project)

    def get_object(self) -> AgentState:
        # `{namespace}/{key}/` has no id: DRF's OPTIONS answer looks the entry up for PUT.
        if "namespace" not in self.kwargs:
            return super().get_object()
        entry = selectors.agent_state_get(
            project=self.project, namespace=self.kwargs["namespace"], key=self.kwargs["key"]
        )
        if entry is None:
            raise Http404("No such entry.")
        self.check_object_permissions(self.request, entry)
        return entry

    def perform_create(self, serializer: BaseSerializer[AgentState]) -> None:
        serializer.instance = services.agent_state_create(
            project=self.project, **serializer.validated_data
        )

    def perform_update(self, serializer: BaseSerializer[AgentState]) -> None:
        # DRF updates the object it fetched: an update serializer always has it.
        assert serializer.instance is not None
        serializer.instance = services.agent_state_update(
            entry=serializer.instance, data=serializer.validated_data
        )

    def perform_destroy(self, instance: AgentState) -> None:
        services.agent_state_delete(entry=instance)

    @extend_schema(
        methods=["GET"],
        operation_id="v1_projects_agent_state_by_key_retrieve",
        parameters=STATE_KEY_PARAMETERS,
        responses={200: s.AgentStateSerializer},
        description="The entry at (namespace, key).",
    )
    @extend_schema(
        methods=["PUT"],
        operation_id="v1_projects_agent_state_by_key_update",
        parameters=STATE_KEY_PARAMETERS,
        request=s.AgentStateValueSerializer,
        responses={200: s.AgentStateSerializer},
        description="Create or overwrite the entry at (namespace, key).",
    )
    @action(
        detail=False,
        methods=["get", "put"],
        url_path=r"(?P<namespace>[^/]+)/(?P<key>[^/]+)",
        url_name="by-key",
    )
    def by_key(self, request: Request, namespace: str, key: str, **kwargs: Any) -> Response:
        if request.method == "PUT":
            serializer = s.AgentStateValueSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            entry = services.agent_state_set(
                project=self.project,
                namespace=namespace,
                key=key,
                value=serializer.validated_data["value"],
            )
        else:
            entry = self.get_object()
        return Response(self.get_serializer(entry).data)
