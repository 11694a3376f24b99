"""The planning agent: it turns requirements into a plan, and answers the planning chat.

Plan generation is a run of the project's `planner` agent, carried out on a Celery
worker (`agents.tasks.generate_plan`); its life goes through `agents.services.runs` like
any run's. The chat is not a run: each question gets one reply. Both send planning's
prompts (`planning.prompts`), check the model's reply against planning's schemas, and
record every call's usage.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from agents.llm import ChatMessage, Completion, LLMError, get_llm_client, json_schema_format
from agents.models import Agent, AgentRun, PlanningCycle
from agents.services import runs
from agents.services.agents import agent_create
from agents.services.logs import planning_cycle_close, planning_cycle_open
from agents.services.usage import UsageContext, usage_record
from core.errors import DomainError
from core.queue import enqueue_on_commit
from planning import selectors as planning_selectors
from planning.importers.document import PlanImportError
from planning.models import ConversationMessage, ConversationSession, Project
from planning.plan_schema import generated_plan_schema, parse_generated_plan
from planning.prompts import (
    CHAT_PURPOSE,
    CHAT_SYSTEM_PROMPT,
    GENERATE_PURPOSE,
    GENERATE_SYSTEM_PROMPT,
    chat_reply_schema,
    facts_message,
)
from planning.services.chat import chat_message_add, chat_reply_read, plan_facts
from planning.services.plans import plan_apply_or_explain
from planning.services.versions import version_create

MAX_ATTEMPTS = 3  # model calls per generation, and per chat reply
MAX_REQUIREMENTS_CHARS = 50_000
PLANNER_NAME = "planner"
CHAT_HISTORY = 20  # earlier messages sent along with a new question


def _sent_back(completion: Completion, verdict: str, problems: str) -> list[ChatMessage]:
    """What the model is told of a reply that cannot be used, to try again."""
    return [
        completion.as_message(),
        ChatMessage.user(f"{verdict}. Fix these problems and reply again:\n{problems}"),
    ]


def planner_for(*, project: Project) -> Agent:
    """The project's planner agent, registered on first use. Raises DomainError when it
    is terminated."""
    agent = project.agents.filter(name=PLANNER_NAME).first()
    if agent is None:
        agent = agent_create(project=project, name=PLANNER_NAME, type=Agent.Type.PLANNER)
    elif agent.status == Agent.Status.TERMINATED:
        raise DomainError("The project's planner agent is terminated.")
    return agent


# Plan generation --------------------------------------------------------------------------


@transaction.atomic
def plan_generation_start(
    *, project: Project, requirements: str, actor: User | None = None
) -> AgentRun:
    """Queue a planning run for `requirements`; a Celery worker carries it out.

    Raises DomainError for empty requirements or while another generation is running.
    """
    if not requirements.strip():
        raise DomainError("Describe the requirements to plan.", field="requirements")
    if len(requirements) > MAX_REQUIREMENTS_CHARS:
        raise DomainError("Requirements are limited to 50,000 characters.", field="requirements")
    agent = planner_for(project=project)
    busy = AgentRun.objects.filter(
        project=project, kind=AgentRun.Kind.PLANNING, status__in=AgentRun.ACTIVE_STATUSES
    )
    if busy.exists():
        raise DomainError("A plan is already being generated for this project.")
    run = runs.agent_run_create(
        project=project,
        agent=agent,
        kind=AgentRun.Kind.PLANNING,
        idempotency_key=f"plan-generation-{uuid.uuid4()}",
        payload={"requirements": requirements, "requested_by": getattr(actor, "username", None)},
        result={"stage": "queued"},
    )
    enqueue_on_commit(runs.GENERATE_PLAN_TASK, run.pk, queue=settings.AGENT_QUEUE)
    return run


@transaction.atomic
def plan_generation_retry(*, run: AgentRun, actor: User | None = None) -> AgentRun:
    """Queue a new planning run with the requirements of `run`, a generation that failed
    or was cancelled: the user's words are kept, never typed again.

    Raises DomainError for a run that did not fail, or while another generation is running.
    """
    if run.kind != AgentRun.Kind.PLANNING or run.status not in (
        AgentRun.Status.FAILED,
        AgentRun.Status.CANCELLED,
    ):
        raise DomainError("Only a failed or cancelled plan generation can be retried.")
    return plan_generation_start(
        project=run.project, requirements=run.payload.get("requirements", ""), actor=actor
    )


def plan_generation_execute(*, run_id: int) -> AgentRun | None:
    """Carry out a queued planning run: ask the model, validate, apply, version.

    A reply that does not match the schema is sent back with the errors, at most
    MAX_ATTEMPTS times in all; then the run fails with the last error. Safe to call twice:
    a finished run, or one another worker is on, is left alone.
    """
    lease = timedelta(seconds=settings.PLANNING_LEASE_SECONDS)
    run = runs.run_take(run_id=run_id, lease=lease, stage="asking the model")
    if run is None:
        return None
    project = run.project
    # A delivery again after a worker died carries on the cycle the first one opened.
    cycle = PlanningCycle.objects.filter(
        run=run, opened__isnull=True, closing__isnull=True
    ).first() or planning_cycle_open(
        project=project,
        run=run,
        goals=["Turn the requirements into features, sub-features and tasks"],
    )
    client = get_llm_client()
    messages = [
        ChatMessage.system(GENERATE_SYSTEM_PROMPT),
        ChatMessage.user(run.payload.get("requirements", "")),
    ]
    usage = UsageContext(project=project, agent=run.agent, run=run, purpose=GENERATE_PURPOSE)
    response_format = json_schema_format("development_plan", generated_plan_schema(), strict=False)
    error = ""
    try:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            runs.run_progress(run=run, lease=lease, stage="asking the model", attempt=attempt)
            completion = client.complete(
                messages, response_format=response_format, purpose=GENERATE_PURPOSE
            )
            usage_record(completion=completion, context=usage)
            try:
                document = parse_generated_plan(completion.content or "")
            except PlanImportError as exc:
                error = str(exc)
                messages += _sent_back(completion, "That reply was not valid", error)
                continue
            runs.run_progress(run=run, lease=lease, stage="applying the plan")
            requested_by = run.payload.get("requested_by")
            requester = (
                get_user_model().objects.filter(username=requested_by).first()
                if requested_by
                else None
            )
            with transaction.atomic():
                # Applied only while the run is still on: not once someone cancelled it.
                if not runs.run_still_running(run=run):
                    return _abandon(run, cycle)
                result = plan_apply_or_explain(project=project, document=document)
                version = version_create(
                    project=project,
                    summary=f"Generated by {run.agent.name} (run {run.pk}): {result.summary()}",
                    actor=requester,
                )
                Agent.objects.filter(pk=run.agent_id).update(
                    model=completion.model, last_activity_at=timezone.now()
                )
                return _finish(
                    run,
                    cycle,
                    succeeded=True,
                    result={
                        "stage": "done",
                        "attempt": attempt,
                        "summary": result.summary(),
                        "version": version.number if version else None,
                    },
                )
        error = f"The model gave no valid plan in {MAX_ATTEMPTS} attempts. Last problem: {error}"
    except (LLMError, PlanImportError) as exc:
        error = str(exc)
    return _finish(run, cycle, succeeded=False, result={"stage": "failed"}, error=error)


def _finish(
    run: AgentRun,
    cycle: PlanningCycle,
    *,
    succeeded: bool,
    result: dict[str, Any],
    error: str = "",
) -> AgentRun:
    with transaction.atomic():
        if not runs.run_still_running(run=run):
            return _abandon(run, cycle)
        runs.run_finish(run=run, succeeded=succeeded, error=error, result=result)
        planning_cycle_close(
            cycle=cycle,
            status=PlanningCycle.Status.COMPLETED if succeeded else PlanningCycle.Status.ABANDONED,
            outcomes=[result.get("summary") or error],
        )
    return run


def _abandon(run: AgentRun, cycle: PlanningCycle) -> AgentRun:
    """Close the planning cycle of a run that ended without the planner (cancelled)."""
    planning_cycle_close(
        cycle=cycle,
        status=PlanningCycle.Status.ABANDONED,
        outcomes=[run.error or f"The run was {run.status}."],
    )
    return run


# The planning chat ------------------------------------------------------------------------


def chat_message_send(
    *, session: ConversationSession, content: str, actor: User | None = None
) -> ConversationMessage:
    """Record the user's message and the assistant's reply, which may propose edits.

    Proposed edits are checked against the current plan before they are offered; a reply
    that is not valid JSON of the reply schema, or whose edits cannot apply, goes back to
    the model with the problems (at most MAX_ATTEMPTS calls). Raises DomainError for an
    empty message; model failures become an assistant message that says what went wrong.
    """
    if not content.strip():
        raise DomainError("Write a message first.", field="content")
    project = session.project
    chat_message_add(
        session=session,
        role=ConversationMessage.Role.USER,
        content=content,
        metadata={"author": getattr(actor, "username", None)},
    )
    history = planning_selectors.chat_history(session=session, limit=CHAT_HISTORY + 1)
    messages = [
        ChatMessage.system(CHAT_SYSTEM_PROMPT),
        ChatMessage.system(facts_message(plan_facts(project=project))),
        *(
            ChatMessage(role=m.role, content=m.content)
            for m in history
            if m.role in (ConversationMessage.Role.USER, ConversationMessage.Role.ASSISTANT)
        ),
    ]
    client = get_llm_client()
    usage = UsageContext(project=project, purpose=CHAT_PURPOSE)
    response_format = json_schema_format("chat_reply", chat_reply_schema(), strict=False)
    current = planning_selectors.plan_document(project=project)
    metadata: dict[str, Any] = {}
    reply_text = ""
    tokens = 0
    problem = ""
    try:
        for _ in range(MAX_ATTEMPTS):
            completion = client.complete(
                messages, response_format=response_format, purpose=CHAT_PURPOSE
            )
            usage_record(completion=completion, context=usage)
            tokens += completion.usage.output_tokens
            try:
                reply_text, metadata = chat_reply_read(
                    content=completion.content or "", current=current
                )
                break
            except PlanImportError as exc:
                problem = str(exc)
            messages += _sent_back(completion, "That reply was not usable", problem)
        else:
            reply_text = f"I could not produce a valid answer ({problem})."
            metadata = {"error": problem}
    except LLMError as exc:
        reply_text = f"The model could not be reached: {exc}"
        metadata = {"error": str(exc)}
    return chat_message_add(
        session=session,
        role=ConversationMessage.Role.ASSISTANT,
        content=reply_text,
        token_count=tokens,
        metadata=metadata,
    )
