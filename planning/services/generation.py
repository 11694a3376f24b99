"""Plan generation: a planning agent turns requirements into a plan, on a Celery worker."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from agents import services as agent_services
from agents.llm import ChatMessage, LLMError, UsageContext, get_llm_client, json_schema_format
from agents.models import Agent, AgentRun
from core.errors import DomainError
from planning.generation import GENERATE_PURPOSE, GENERATE_SYSTEM_PROMPT
from planning.importers.document import PlanImportError
from planning.models import Project
from planning.plan_schema import generated_plan_schema, parse_generated_plan
from planning.services.plans import plan_apply_or_explain
from planning.services.versions import version_create

MAX_ATTEMPTS = 3
LEASE = timedelta(minutes=10)
PLANNER_NAME = "planner"
FINISHED = (AgentRun.Status.SUCCEEDED, AgentRun.Status.FAILED, AgentRun.Status.CANCELLED)


def planner_for(*, project: Project) -> Agent:
    agent = project.agents.filter(name=PLANNER_NAME).first()
    if agent is None:
        agent = agent_services.agent_create(
            project=project, name=PLANNER_NAME, type=Agent.Type.PLANNER
        )
    elif agent.status == Agent.Status.TERMINATED:
        raise DomainError("The project's planner agent is terminated.")
    return agent


@transaction.atomic
def plan_generation_start(
    *, project: Project, requirements: str, actor: AbstractBaseUser | None = None
) -> AgentRun:
    """Queue a planning run for `requirements`; a Celery worker carries it out.

    Raises DomainError for empty requirements or while another generation is running.
    """
    if not requirements.strip():
        raise DomainError("Describe the requirements to plan.", field="requirements")
    if len(requirements) > 50_000:
        raise DomainError("Requirements are limited to 50,000 characters.", field="requirements")
    agent = planner_for(project=project)
    busy = AgentRun.objects.filter(
        project=project, kind=AgentRun.Kind.PLANNING, status__in=["queued", "running"]
    )
    if busy.exists():
        raise DomainError("A plan is already being generated for this project.")
    run = agent_services.agent_run_create(
        project=project,
        agent=agent,
        kind=AgentRun.Kind.PLANNING,
        idempotency_key=f"plan-generation-{uuid.uuid4()}",
    )
    run.payload = {
        "requirements": requirements,
        "requested_by": getattr(actor, "username", None),
    }
    run.result = {"stage": "queued"}
    run.save(update_fields=["payload", "result", "updated_at"])

    from planning.tasks import generate_plan

    transaction.on_commit(lambda: generate_plan.delay(run.pk))
    return run


def _claim(run_id: int) -> AgentRun | None:
    """Mark the run as running unless it finished or another worker holds its lease."""
    with transaction.atomic():
        run = AgentRun.objects.select_for_update().select_related("project", "agent").get(pk=run_id)
        now = timezone.now()
        if run.status in FINISHED:
            return None
        if (
            run.status == AgentRun.Status.RUNNING
            and run.lease_expires_at
            and run.lease_expires_at > now
        ):
            return None
        run.status = AgentRun.Status.RUNNING
        run.started_at = run.started_at or now
        run.heartbeat_at = now
        run.lease_expires_at = now + LEASE
        run.result = {**run.result, "stage": "asking the model"}
        Agent.objects.filter(pk=run.agent_id).update(last_activity_at=now)
        run.save(
            update_fields=[
                "status",
                "started_at",
                "heartbeat_at",
                "lease_expires_at",
                "result",
                "updated_at",
            ]
        )
        return run


def _progress(run: AgentRun, **result: object) -> None:
    """Record progress; it is also the run's heartbeat, so the lease is extended."""
    run.result = {**run.result, **result}
    run.heartbeat_at = timezone.now()
    run.lease_expires_at = run.heartbeat_at + LEASE
    AgentRun.objects.filter(pk=run.pk).update(
        result=run.result, heartbeat_at=run.heartbeat_at, lease_expires_at=run.lease_expires_at
    )


def plan_generation_execute(*, run_id: int) -> AgentRun | None:
    """Carry out a queued planning run: ask the model, validate, apply, version.

    A reply that does not match the schema is sent back with the errors, at most
    MAX_ATTEMPTS times in all; then the run fails with the last error. Safe to call twice:
    a finished run, or one another worker is on, is left alone.
    """
    run = _claim(run_id)
    if run is None:
        return None
    project = run.project
    cycle = agent_services.planning_cycle_open(
        project=project,
        run=run,
        goals=["Turn the requirements into features, sub-features and tasks"],
    )
    client = get_llm_client()
    messages = [
        ChatMessage.system(GENERATE_SYSTEM_PROMPT),
        ChatMessage.user(run.payload.get("requirements", "")),
    ]
    context = UsageContext(project=project, agent=run.agent, run=run, purpose=GENERATE_PURPOSE)
    response_format = json_schema_format("development_plan", generated_plan_schema(), strict=False)
    error = ""
    try:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            _progress(run, stage="asking the model", attempt=attempt)
            completion = client.complete(messages, response_format=response_format, context=context)
            try:
                document = parse_generated_plan(completion.content or "")
            except PlanImportError as exc:
                error = str(exc)
                messages += [
                    completion.as_message(),
                    ChatMessage.user(
                        f"That reply was not valid. Fix these problems and reply again:\n{error}"
                    ),
                ]
                continue
            _progress(run, stage="applying the plan")
            requester = (
                get_user_model().objects.filter(username=run.payload.get("requested_by")).first()
                if run.payload.get("requested_by")
                else None
            )
            with transaction.atomic():
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
                status=AgentRun.Status.SUCCEEDED,
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
    return _finish(
        run, cycle, status=AgentRun.Status.FAILED, result={"stage": "failed"}, error=error
    )


def _finish(
    run: AgentRun, cycle: object, *, status: str, result: dict, error: str = ""
) -> AgentRun:
    with transaction.atomic():
        run.status = status
        run.finished_at = timezone.now()
        run.error = error
        run.lease_expires_at = None
        run.result = {**run.result, **result}
        run.save(
            update_fields=[
                "status",
                "finished_at",
                "error",
                "lease_expires_at",
                "result",
                "updated_at",
            ]
        )
        agent_services.planning_cycle_close(
            cycle=cycle,  # type: ignore[arg-type]
            status="completed" if status == AgentRun.Status.SUCCEEDED else "abandoned",
            outcomes=[result.get("summary") or error],
        )
    return run
