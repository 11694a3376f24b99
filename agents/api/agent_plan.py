"""The plan as an external agent reads and changes it, with `Authorization: Agent <key>`.

Reads are open to every working agent of the project; adding and editing tasks and
dependencies needs the agent's `may_add_tasks`. The task shapes are the person-facing
API's (`TaskSerializer`).
"""

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.api.external import AgentKeyView
from agents.api.planner import (
    EXPAND_DESCRIPTION,
    ExpandRequestSerializer,
    ExpansionSerializer,
    expansion_response,
)
from agents.api.serializers import AgentRunSerializer
from agents.auth import AgentKeyAuthentication, IsWorkingAgent
from agents.services import agent_plan
from core.api.pagination import PageNumberPagination
from planning import selectors as planning_selectors
from planning.api.analytics import PAGE_PARAMETER, analytics_response
from planning.api.serializers import PlanAnalyticsSerializer, TaskSerializer
from planning.exporters.markdown import render_markdown
from planning.filters import TaskFilterSet
from planning.models import Feature, SubFeature, Task


class PlanSerializer(serializers.Serializer[Any]):
    project = serializers.CharField(source="project.slug")
    name = serializers.CharField(source="project.name")
    description = serializers.CharField(source="project.description")
    markdown = serializers.CharField(help_text="The working plan rendered as Markdown.")


class TaskAddSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=300)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    key = serializers.CharField(
        max_length=50,
        required=False,
        allow_blank=True,
        default="",
        help_text="Leave it out for the next free `<sub-feature>-T<n>`.",
    )
    feature = serializers.CharField(required=False, help_text="Feature key.")
    sub_feature = serializers.CharField(
        required=False,
        help_text="Sub-feature key; by default the place of the task the agent works on.",
    )
    depends_on = serializers.ListField(
        child=serializers.CharField(), required=False, default=list, help_text="Task keys."
    )
    priority = serializers.ChoiceField(choices=Task.Priority.choices, required=False)
    files = serializers.ListField(child=serializers.CharField(), required=False)
    verify = serializers.CharField(required=False, allow_blank=True)
    done_criteria = serializers.CharField(required=False, allow_blank=True)


class SubtaskAddSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=300)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    priority = serializers.ChoiceField(choices=Task.Priority.choices, required=False)
    verify = serializers.CharField(required=False, allow_blank=True)


class TaskEditSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=300, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    files = serializers.ListField(child=serializers.CharField(), required=False)
    verify = serializers.CharField(required=False, allow_blank=True)
    done_criteria = serializers.CharField(required=False, allow_blank=True)
    priority = serializers.ChoiceField(choices=Task.Priority.choices, required=False)
    size = serializers.ChoiceField(choices=Task.Size.choices, required=False)
    complexity = serializers.IntegerField(min_value=1, max_value=10, required=False)


class TaskStatusSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(
        choices=[
            Task.Status.IN_PROGRESS,
            Task.Status.BLOCKED,
            Task.Status.DONE,
            Task.Status.PENDING,
        ],
        help_text="`done` completes the agent's run, `pending` gives the task back.",
    )


class DependencyAddSerializer(serializers.Serializer[Any]):
    depends_on = serializers.CharField(help_text="Key of the task this one waits for.")


TASK_FILTERS = [
    OpenApiParameter(
        "ready", OpenApiTypes.BOOL, description="Only ready tasks (pending, dependencies done)."
    ),
    OpenApiParameter(
        "status", OpenApiTypes.STR, many=True, enum=Task.Status.values, description="Status."
    ),
    OpenApiParameter("feature", OpenApiTypes.STR, description="Feature key."),
    OpenApiParameter("sub_feature", OpenApiTypes.STR, description="Sub-feature key."),
    OpenApiParameter("q", OpenApiTypes.STR, description="Words in key or name."),
    OpenApiParameter("page", OpenApiTypes.INT, description="Page number."),
]


class AgentTaskView(AgentKeyView):
    def get_task(self, key: str) -> Task:
        return get_object_or_404(planning_selectors.task_list(project=self.project), key=key)

    def task_response(self, task: Task, code: int = status.HTTP_200_OK) -> Response:
        return Response(TaskSerializer(self.get_task(task.key)).data, status=code)


class AgentPlanView(AgentKeyView):
    run_key_methods = frozenset({"GET"})

    @extend_schema(responses=PlanSerializer, description="The working plan as Markdown.")
    def get(self, request: Request, **kwargs: Any) -> Response:
        document = planning_selectors.plan_document(project=self.project)
        markdown = render_markdown(document, title=self.project.name)
        return Response(PlanSerializer({"project": self.project, "markdown": markdown}).data)


class AgentAnalyticsView(AgentKeyView):
    run_key_methods = frozenset({"GET"})

    @extend_schema(
        responses=PlanAnalyticsSerializer,
        parameters=[PAGE_PARAMETER],
        description="Waves, critical path, ready/blocked/done tasks and progress, a page "
        "at a time (`next`).",
    )
    def get(self, request: Request, **kwargs: Any) -> Response:
        return analytics_response(request, self.project)


class AgentTaskListView(AgentTaskView):
    run_key_methods = frozenset({"GET"})

    @extend_schema(
        parameters=TASK_FILTERS,
        responses=TaskSerializer(many=True),
        description="The project's tasks, filtered like the tasks list; paginated.",
    )
    def get(self, request: Request, **kwargs: Any) -> Response:
        tasks = planning_selectors.task_list(project=self.project)
        if request.query_params.get("ready") in ("1", "true", "yes"):
            ready = planning_selectors.task_ready_list(project=self.project)
            tasks = tasks.filter(pk__in=ready.values("pk"))
        filterset = TaskFilterSet(request.query_params, queryset=tasks)
        if not filterset.is_valid():
            raise serializers.ValidationError(filterset.errors)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(filterset.qs, request, view=self)
        return paginator.get_paginated_response(TaskSerializer(page, many=True).data)

    @extend_schema(
        request=TaskAddSerializer,
        responses={201: TaskSerializer, 403: OpenApiResponse(description="Not allowed.")},
        description="Add a task the agent discovered (needs the agent's may_add_tasks).",
    )
    def post(self, request: Request, **kwargs: Any) -> Response:
        serializer = TaskAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        feature_key, sub_feature_key = data.pop("feature", None), data.pop("sub_feature", None)
        data["feature"] = feature_key and get_object_or_404(
            Feature.objects.filter(project=self.project), key=feature_key
        )
        data["sub_feature"] = sub_feature_key and get_object_or_404(
            SubFeature.objects.filter(project=self.project), key=sub_feature_key
        )
        data["depends_on"] = [self.get_task(key) for key in data["depends_on"]]
        task = agent_plan.agent_task_add(agent=self.agent, **data)
        return self.task_response(task, status.HTTP_201_CREATED)


class AgentTaskNextView(AgentTaskView):
    run_key_methods = frozenset({"GET"})

    @extend_schema(
        responses={200: TaskSerializer, 204: OpenApiResponse(description="Nothing is ready.")},
        description="The next ready task, as `tasks/next/` gives it (without claiming it).",
    )
    def get(self, request: Request, **kwargs: Any) -> Response:
        task = planning_selectors.task_next_ready(project=self.project)
        if task is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(TaskSerializer(task).data)


class AgentTaskDetailView(AgentTaskView):
    run_key_methods = frozenset({"GET"})

    @extend_schema(responses=TaskSerializer, description="One task, by key.")
    def get(self, request: Request, key: str, **kwargs: Any) -> Response:
        return Response(TaskSerializer(self.get_task(key)).data)

    @extend_schema(
        request=TaskEditSerializer,
        responses=TaskSerializer,
        description="Edit a task's text, priority or size (needs the agent's may_add_tasks).",
    )
    def patch(self, request: Request, key: str, **kwargs: Any) -> Response:
        task = self.get_task(key)
        serializer = TaskEditSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        agent_plan.agent_task_update(agent=self.agent, task=task, data=serializer.validated_data)
        return self.task_response(task)


class AgentTaskStatusView(AgentTaskView):
    @extend_schema(
        request=TaskStatusSerializer,
        responses={200: TaskSerializer, 409: OpenApiResponse(description="Not its claim.")},
        description="Set the status of the task the agent's running claim holds.",
    )
    def post(self, request: Request, key: str, **kwargs: Any) -> Response:
        task = self.get_task(key)
        serializer = TaskStatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        agent_plan.agent_task_set_status(agent=self.agent, task=task, **serializer.validated_data)
        return self.task_response(task)


class AgentSubtaskView(AgentTaskView):
    @extend_schema(
        request=SubtaskAddSerializer,
        responses={201: TaskSerializer},
        description="Add a subtask (`<key>.<n>`), which the task then waits for (needs "
        "the agent's may_add_tasks).",
    )
    def post(self, request: Request, key: str, **kwargs: Any) -> Response:
        parent = self.get_task(key)
        serializer = SubtaskAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subtask = agent_plan.agent_subtask_add(
            agent=self.agent, parent=parent, **serializer.validated_data
        )
        return self.task_response(subtask, status.HTTP_201_CREATED)


class AgentDependencyListView(AgentTaskView):
    @extend_schema(
        request=DependencyAddSerializer,
        responses={201: TaskSerializer, 409: OpenApiResponse(description="Already there.")},
        description="Make the task wait for another; an edge that would close a cycle is "
        "a 400 naming it (needs the agent's may_add_tasks).",
    )
    def post(self, request: Request, key: str, **kwargs: Any) -> Response:
        task = self.get_task(key)
        serializer = DependencyAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        depends_on = self.get_task(serializer.validated_data["depends_on"])
        agent_plan.agent_dependency_add(agent=self.agent, task=task, depends_on=depends_on)
        return self.task_response(task, status.HTTP_201_CREATED)


class AgentDependencyDetailView(AgentTaskView):
    @extend_schema(
        request=None,
        responses=TaskSerializer,
        description="The task no longer waits for `depends_on` (needs may_add_tasks).",
    )
    def delete(self, request: Request, key: str, depends_on: str, **kwargs: Any) -> Response:
        task = self.get_task(key)
        agent_plan.agent_dependency_remove(
            agent=self.agent, task=task, depends_on=self.get_task(depends_on)
        )
        return self.task_response(task)


class AgentTaskExpandView(AgentTaskView):
    @extend_schema(
        request=ExpandRequestSerializer,
        responses={201: ExpansionSerializer},
        description=f"{EXPAND_DESCRIPTION} Needs the agent's may_add_tasks.",
    )
    def post(self, request: Request, key: str, **kwargs: Any) -> Response:
        task = self.get_task(key)
        serializer = ExpandRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        expansion = agent_plan.agent_task_expand(
            agent=self.agent, task=task, **serializer.validated_data
        )
        return expansion_response(expansion)


class GenerateSerializer(serializers.Serializer[Any]):
    requirements = serializers.CharField(help_text="A PRD or requirements, as text.")


class AgentPlanGenerateView(AgentKeyView):
    @extend_schema(
        request=GenerateSerializer,
        responses={202: AgentRunSerializer},
        description="Queue plan generation from requirements, as `generate/` does (needs "
        "the agent's may_add_tasks). The plan becomes a new version when the run ends.",
    )
    def post(self, request: Request, **kwargs: Any) -> Response:
        serializer = GenerateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = agent_plan.agent_plan_generate(
            agent=self.agent, requirements=serializer.validated_data["requirements"]
        )
        return Response(AgentRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class AgentIdentitySerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField(source="agent.id")
    name = serializers.CharField(source="agent.name")
    project = serializers.CharField(source="agent.project.slug")
    may_add_tasks = serializers.BooleanField(source="agent.may_add_tasks")
    run = serializers.IntegerField(
        source="run.pk",
        allow_null=True,
        help_text="For a coding CLI's run key, the run it works for; null for an agent key.",
    )


@extend_schema(parameters=[])
class AgentWhoAmIView(APIView):
    """Who an agent key belongs to: the agent, its project's slug and, for a run key, its
    run."""

    authentication_classes = [AgentKeyAuthentication]
    permission_classes = [IsWorkingAgent]

    @extend_schema(responses=AgentIdentitySerializer)
    def get(self, request: Request) -> Response:
        return Response(AgentIdentitySerializer(request.user).data)
