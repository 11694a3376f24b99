"""Memory, state and questions to people for an external agent, with its key."""

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from agents import selectors
from agents.api.external import AgentKeyView
from agents.api.serializers import AgentStateSerializer, AgentStateValueSerializer
from agents.models import AgentState
from agents.services import agent_memory
from memory import selectors as memory_selectors
from memory.api.serializers import MemoryFactSerializer
from planning.api.serializers import TaskSerializer
from planning.models import Task

RECALL_LIMIT = 20


class RememberSerializer(serializers.Serializer[Any]):
    subject = serializers.CharField(max_length=300)
    learned = serializers.CharField(help_text="What was learned.")
    confidence = serializers.FloatField(min_value=0, max_value=1, default=0.7)
    # DRF's serializer metaclass takes declared fields off the class, so this field does
    # not replace Field.source, whatever the type checker sees.
    source = serializers.CharField(  # type: ignore[assignment]
        required=False, default="", allow_blank=True, help_text="A tool, a file, a person."
    )
    run = serializers.IntegerField(required=False, help_text="The run it was learned in.")


class FactListSerializer(serializers.Serializer[Any]):
    results = MemoryFactSerializer(many=True)


class QuestionSerializer(serializers.Serializer[Any]):
    question = serializers.CharField(max_length=5000)
    options = serializers.ListField(
        child=serializers.CharField(max_length=300),
        required=False,
        default=list,
        max_length=10,
        help_text="Choices to offer; without them the person acts and approves or rejects.",
    )


class AnswerSerializer(serializers.Serializer[Any]):
    approved = serializers.BooleanField()
    choice = serializers.CharField(allow_null=True, required=False)
    note = serializers.CharField(allow_null=True, required=False)
    by = serializers.CharField(allow_null=True, required=False)


class QuestionStateSerializer(serializers.Serializer[Any]):
    checkpoint = TaskSerializer()
    answered = serializers.BooleanField()
    answer = AnswerSerializer(allow_null=True)


QUERY = OpenApiParameter("q", OpenApiTypes.STR, description="Words to recall facts by.")


class AgentMemoryView(AgentKeyView):
    run_key_methods = frozenset({"GET", "POST"})

    @extend_schema(
        parameters=[QUERY],
        responses=FactListSerializer,
        description="Recall: the project's (and global) fresh facts that mention the "
        "words, most confident first; without `q`, the most confident facts.",
    )
    def get(self, request: Request, **kwargs: Any) -> Response:
        query = request.query_params.get("q", "").strip()
        if query:
            facts = memory_selectors.memory_fact_search(
                project=self.project, query=query, limit=RECALL_LIMIT
            )
        else:
            facts = list(memory_selectors.memory_fact_list(project=self.project)[:RECALL_LIMIT])
        return Response({"results": MemoryFactSerializer(facts, many=True).data})

    @extend_schema(
        request=RememberSerializer,
        responses={201: MemoryFactSerializer},
        description="Remember a fact of the project, with this agent as its provenance.",
    )
    def post(self, request: Request, **kwargs: Any) -> Response:
        serializer = RememberSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        run_id = data.pop("run", None)
        if run_id is None and self.scope is not None:
            run_id = self.scope.pk  # a run key's facts come from its run
        run = self.get_run(run_id) if run_id is not None else None
        fact = agent_memory.agent_fact_remember(agent=self.agent, run=run, **data)
        return Response(MemoryFactSerializer(fact).data, status=status.HTTP_201_CREATED)


class AgentStateListView(AgentKeyView):
    @extend_schema(
        operation_id="agent_own_state_list",
        responses=AgentStateSerializer(many=True),
        description="The agent's own state entries (its namespace `agent:<name>`).",
    )
    def get(self, request: Request, **kwargs: Any) -> Response:
        entries = AgentState.objects.filter(
            project=self.project, namespace=agent_memory.agent_state_namespace(self.agent)
        ).order_by("key")[:1000]
        return Response(AgentStateSerializer(entries, many=True).data)


class AgentStateDetailView(AgentKeyView):
    def get_entry(self, key: str) -> AgentState:
        return get_object_or_404(
            AgentState.objects.filter(
                project=self.project, namespace=agent_memory.agent_state_namespace(self.agent)
            ),
            key=key,
        )

    @extend_schema(
        operation_id="agent_own_state_retrieve",
        responses=AgentStateSerializer,
        description="One entry of its state.",
    )
    def get(self, request: Request, key: str, **kwargs: Any) -> Response:
        return Response(AgentStateSerializer(self.get_entry(key)).data)

    @extend_schema(
        operation_id="agent_own_state_set",
        request=AgentStateValueSerializer,
        responses=AgentStateSerializer,
        description="Set one entry of its state (any JSON value).",
    )
    def put(self, request: Request, key: str, **kwargs: Any) -> Response:
        serializer = AgentStateValueSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        entry = agent_memory.agent_state_write(
            agent=self.agent, key=key[:200], value=serializer.validated_data["value"]
        )
        return Response(AgentStateSerializer(entry).data)


class RunQuestionsView(AgentKeyView):
    run_key_methods = frozenset({"POST"})

    @extend_schema(
        request=QuestionSerializer,
        responses={201: QuestionStateSerializer, 409: OpenApiResponse(description="Not its run.")},
        description="Ask a person: a checkpoint task in the inbox that the run's task "
        "waits on. Read the answer at `agent/questions/{key}/`.",
    )
    def post(self, request: Request, run_id: int, **kwargs: Any) -> Response:
        run = self.get_run(run_id)
        serializer = QuestionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        checkpoint = agent_memory.agent_question_ask(
            agent=self.agent, run=run, **serializer.validated_data
        )
        return Response(
            QuestionStateSerializer(
                {"checkpoint": checkpoint, "answered": False, "answer": None}
            ).data,
            status=status.HTTP_201_CREATED,
        )


class AgentQuestionView(AgentKeyView):
    run_key_methods = frozenset({"GET"})

    @extend_schema(
        responses=QuestionStateSerializer,
        description="A question's checkpoint and, once a person has answered, the answer.",
    )
    def get(self, request: Request, key: str, **kwargs: Any) -> Response:
        checkpoint = get_object_or_404(
            Task.objects.filter(project=self.project, type__startswith="checkpoint:"), key=key
        )
        answer = selectors.question_answer(checkpoint=checkpoint)
        return Response(
            QuestionStateSerializer(
                {"checkpoint": checkpoint, "answered": answer is not None, "answer": answer}
            ).data
        )
