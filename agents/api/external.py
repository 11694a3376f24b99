"""The API external agents work through, with `Authorization: Agent <key>`.

An agent key opens only its own project: any other project slug is a 404. Issuing a key
is the one endpoint here for people (owners and editors). Here: keys, heartbeats, claims
and finishing runs; what a run reports is in `run_reports`, the plan an agent reads and
changes in `agent_plan`, its memory and questions in `agent_memory`.
"""

import functools
from typing import Any, ClassVar

from django.db.models import prefetch_related_objects
from django.http import Http404
from django.shortcuts import get_object_or_404
from django_stubs_ext import WithAnnotations
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotAuthenticated, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import selectors, services
from agents.api.serializers import AgentRunSerializer
from agents.auth import AgentKeyAuthentication, IsWorkingAgent, run_key_scope
from agents.models import Agent, AgentRun
from agents.services import reviews
from agents.services.external import (
    DEFAULT_LEASE_SECONDS,
    MAX_LEASE_SECONDS,
    MIN_LEASE_SECONDS,
)
from core.api.parsers import JSONParser
from core.api.representation import Render, representation
from core.api.throttling import AgentKeyIssueThrottle
from memory.api.serializers import MemoryFactSerializer
from memory.selectors import memory_fact_search
from planning.api.scoping import ProjectScopedViewMixin, project_scoped_schema
from planning.api.serializers import TaskSerializer
from planning.models import SubFeature, Task
from planning.services.claims import DependencyCount

# Serializers --------------------------------------------------------------------------


class IssuedKeySerializer(serializers.Serializer[Any]):
    agent = serializers.IntegerField(source="agent.pk")
    key = serializers.CharField(help_text="Shown this once; only its hash is kept.")
    prefix = serializers.CharField(
        source="agent.api_key_prefix", help_text="The key's first characters, for display."
    )


def _lease_field(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(
        min_value=MIN_LEASE_SECONDS, max_value=MAX_LEASE_SECONDS, required=False, **kwargs
    )


class ClaimOptionsSerializer(serializers.Serializer[Any]):
    lease_seconds = _lease_field(
        default=DEFAULT_LEASE_SECONDS,
        help_text="How long the claim holds without a heartbeat.",
    )


class ClaimedTaskSerializer(TaskSerializer):
    """A task as its claim answers it: the claim reads its dependencies' keys itself."""

    # DRF's serializer metaclass takes declared fields off the class, so this replaces
    # TaskSerializer's field of the same name without overriding an attribute.
    depends_on = serializers.SerializerMethodField()  # type: ignore[assignment]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_depends_on(self, task: "WithAnnotations[Task, DependencyCount]") -> list[str]:
        return list(task.dependency_keys)


class ClaimedPlanSerializer(serializers.Serializer[Any]):
    """The sub-feature (a GSD plan) the claimed task belongs to."""

    key = serializers.CharField()
    name = serializers.CharField()
    objective = serializers.CharField()
    # Declared fields leave the class (DRF's metaclass): Field.context stays as it was.
    context = serializers.SerializerMethodField()  # type: ignore[assignment]
    must_haves = serializers.JSONField()

    def get_context(self, plan: SubFeature) -> str:
        context = plan.extra.get("context", "") if isinstance(plan.extra, dict) else ""
        return str(context or "")


class ClaimSerializer(serializers.Serializer[Any]):
    run = AgentRunSerializer()
    task = ClaimedTaskSerializer()
    plan = ClaimedPlanSerializer(
        allow_null=True,
        help_text="The task's plan (sub-feature): its objective, context and must-haves; "
        "null for a task outside one.",
    )
    memory = MemoryFactSerializer(
        many=True, help_text="Fresh facts of the project that mention the task's words."
    )
    review_feedback = serializers.CharField(
        help_text="What the last review of this task asked to change, with its line "
        "comments; empty unless the task came back from a review."
    )


@functools.cache
def claim_answer() -> Render:
    """Renders a claim's answer as ClaimSerializer does. The answer needs no context, so
    one serializer renders every claim, with DRF's per-field work done once
    (core.api.representation): building a ModelSerializer's fields for each answer, then
    asking each field how to read and render its value, cost a claim more than the
    rendering itself."""
    return representation(ClaimSerializer())


@functools.cache
def _default_claim_options() -> dict[str, Any]:
    """What ClaimOptionsSerializer makes of an empty body: most claims send none."""
    serializer = ClaimOptionsSerializer(data={})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class HeartbeatOptionsSerializer(serializers.Serializer[Any]):
    lease_seconds = _lease_field(
        help_text="Extend the lease by this much; by default, by the length it was claimed with."
    )


class HeartbeatSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=Agent.Status.choices, source="agent.status")
    last_activity_at = serializers.DateTimeField(source="agent.last_activity_at")
    run = AgentRunSerializer(allow_null=True, help_text="The run the agent holds, if any.")


class FinishSerializer(serializers.Serializer[Any]):
    attempt = serializers.IntegerField(
        min_value=1, help_text="The attempt number the claim returned; a stale one is a 409."
    )


class CompleteSerializer(FinishSerializer):
    result = serializers.DictField(required=False, default=dict)
    branch = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=200,
        help_text="The branch of the project's repository holding the work: with it the "
        "task waits for review, and is merged from it once approved.",
    )


class FailSerializer(FinishSerializer):
    error = serializers.CharField(max_length=20000)


class RunFinishedSerializer(serializers.Serializer[Any]):
    run = AgentRunSerializer()
    task = TaskSerializer(allow_null=True)


# Views --------------------------------------------------------------------------------

# How many memory facts a claim's answer carries.
CLAIM_MEMORY_FACTS = 5

# What TaskSerializer reads besides the task's own columns.
TASK_RELATIONS = ("feature", "sub_feature", "depends_on")

AGENT_PROJECT = OpenApiParameter(
    "project_slug",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="Slug of the agent's own project; any other project is a 404.",
)
CONFLICT = OpenApiResponse(
    description="Fenced: another agent's run, a run no longer running, a stale attempt "
    "or an expired lease. Nothing changed."
)


@extend_schema(parameters=[AGENT_PROJECT])
class AgentKeyView(APIView):
    """Base for the endpoints an external agent calls with its key."""

    authentication_classes = [AgentKeyAuthentication]
    permission_classes = [IsWorkingAgent]
    parser_classes = [JSONParser]
    # What a coding CLI's run key may do here (HTTP methods); anything else is a 403.
    run_key_methods: ClassVar[frozenset[str]] = frozenset()
    agent: Agent
    # The one run a run key may report on; None for an agent key.
    scope: AgentRun | None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        agent = request.auth
        if not isinstance(agent, Agent):  # IsWorkingAgent lets only an agent through
            raise NotAuthenticated()
        self.agent = agent
        if self.agent.project.slug != kwargs["project_slug"]:
            raise Http404("No such project.")
        self.project = self.agent.project
        self.scope = run_key_scope(request)
        allowed = self.run_key_methods | {"OPTIONS"}
        if "GET" in allowed:
            allowed |= {"HEAD"}
        if self.scope is not None and request.method not in allowed:
            raise PermissionDenied(
                f"A run key reports on its own run ({self.scope.pk}) and reads the plan; "
                "it cannot claim, finish or change work. Use an agent key for that."
            )

    def get_run(self, run_id: int) -> AgentRun:
        if self.scope is not None and self.scope.pk != run_id:
            raise PermissionDenied(f"This run key works for run {self.scope.pk} only.")
        return get_object_or_404(AgentRun.objects.filter(project=self.project), pk=run_id)


@project_scoped_schema
class AgentKeyIssueView(ProjectScopedViewMixin, APIView):
    """An external agent's API key. Owners and editors only."""

    queryset_model = Agent
    throttle_classes = [AgentKeyIssueThrottle]

    @extend_schema(
        request=None,
        responses={201: IssuedKeySerializer},
        description="Issue a new key for an external agent, replacing its old one. The key "
        "is in this response only; Crewboard keeps its hash.",
    )
    def post(self, request: Request, pk: int, **kwargs: Any) -> Response:
        agent = get_object_or_404(selectors.agent_list(project=self.project), pk=pk)
        issued = services.agent_key_issue(agent=agent)
        return Response(IssuedKeySerializer(issued).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None}, description="Revoke the agent's key.")
    def delete(self, request: Request, pk: int, **kwargs: Any) -> Response:
        agent = get_object_or_404(selectors.agent_list(project=self.project), pk=pk)
        services.agent_key_revoke(agent=agent)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AgentHeartbeatView(AgentKeyView):
    @extend_schema(
        request=HeartbeatOptionsSerializer,
        responses={
            200: HeartbeatSerializer,
            409: OpenApiResponse(
                description="The lease had already expired: the run has failed and its "
                "task is back in the queue."
            ),
        },
        description="Say the agent is alive and extend the lease on the run it holds.",
    )
    def post(self, request: Request, **kwargs: Any) -> Response:
        serializer = HeartbeatOptionsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = services.agent_heartbeat(agent=self.agent, **serializer.validated_data)
        self.agent.refresh_from_db(fields=["status", "last_activity_at"])
        return Response(HeartbeatSerializer({"agent": self.agent, "run": run}).data)


def _claimed_plan(task: Task) -> SubFeature | None:
    # The claim read what the answer shows of the plan (planning.statements.
    # CLAIMED_PLAN_FIELDS) with its task.
    return None if task.sub_feature_id is None else task.sub_feature


class TaskClaimView(AgentKeyView):
    @extend_schema(
        request=ClaimOptionsSerializer,
        responses={
            201: ClaimSerializer,
            204: OpenApiResponse(description="No task is ready."),
            409: OpenApiResponse(description="The agent already holds a running run."),
        },
        description="Claim the next ready task under a lease. Checkpoint tasks are never "
        "claimed; they wait for a person. Keep the run's `attempt` for complete or fail.",
    )
    def post(self, request: Request, **kwargs: Any) -> Response:
        options = request.data
        if isinstance(options, dict) and not options:
            options = _default_claim_options()
        else:
            serializer = ClaimOptionsSerializer(data=options)
            serializer.is_valid(raise_exception=True)
            options = serializer.validated_data
        run = services.task_claim(agent=self.agent, **options)
        if run is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        assert run.task is not None  # a claim is of a task
        feedback = reviews.changes_requested_feedback(task=run.task)
        facts = memory_fact_search(
            project=self.project, query=run.task.name, limit=CLAIM_MEMORY_FACTS
        )
        return Response(
            claim_answer()(
                {
                    "run": run,
                    "task": run.task,
                    "review_feedback": feedback,
                    "plan": _claimed_plan(run.task),
                    "memory": facts,
                }
            ),
            status=status.HTTP_201_CREATED,
        )


class RunFinishView(AgentKeyView):
    request_serializer: type[FinishSerializer]

    def finish(self, run: AgentRun, data: dict[str, Any]) -> AgentRun:
        raise NotImplementedError

    def post(self, request: Request, run_id: int, **kwargs: Any) -> Response:
        run = self.get_run(run_id)
        serializer = self.request_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = self.finish(run, serializer.validated_data)
        if run.task is not None:
            prefetch_related_objects([run.task], *TASK_RELATIONS)
        return Response(RunFinishedSerializer({"run": run, "task": run.task}).data)


class RunCompleteView(RunFinishView):
    request_serializer = CompleteSerializer

    @extend_schema(
        request=CompleteSerializer,
        responses={200: RunFinishedSerializer, 409: CONFLICT},
        description="Finish the run as succeeded: its task is done (or, with `branch`, "
        "waits for review) and the agent idle.",
    )
    def post(self, request: Request, run_id: int, **kwargs: Any) -> Response:
        return super().post(request, run_id, **kwargs)

    def finish(self, run: AgentRun, data: dict[str, Any]) -> AgentRun:
        return services.agent_run_complete(run=run, agent=self.agent, **data)


class RunFailView(RunFinishView):
    request_serializer = FailSerializer

    @extend_schema(
        request=FailSerializer,
        responses={200: RunFinishedSerializer, 409: CONFLICT},
        description="Finish the run as failed: its task goes back to pending for another "
        "claim (the next attempt) and the agent turns idle.",
    )
    def post(self, request: Request, run_id: int, **kwargs: Any) -> Response:
        return super().post(request, run_id, **kwargs)

    def finish(self, run: AgentRun, data: dict[str, Any]) -> AgentRun:
        return services.agent_run_fail(run=run, agent=self.agent, **data)
