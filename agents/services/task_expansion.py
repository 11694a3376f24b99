"""Expanding a task: the planning model splits it into subtasks (`Task.parent` children).

An expansion runs inline, like a planning chat reply and unlike plan generation: it is one
model request (at most MAX_ATTEMPTS when a reply has to be sent back), and the person, CLI
or MCP tool that asked gets the subtasks in the answer. Generating a whole plan can take
minutes, so that one goes to a Celery worker instead.

The reply is checked as a generated plan is (`planning.plan_schema`): the same task
shape, unique keys, known dependencies, no cycle, no NUL character, and at most the
number of subtasks asked for. Nothing is written until a reply passes, and then in one
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction

from agents.llm import ChatMessage, LLMError, get_llm_client, json_schema_format
from agents.models import Agent
from agents.services.planner import MAX_ATTEMPTS, _sent_back
from agents.services.usage import UsageContext, usage_record
from core.errors import ConflictError, DomainError, UpstreamError
from planning.importers.document import PlanImportError, TaskSpec
from planning.models import Task
from planning.plan_schema import MAX_SUBTASKS, generated_subtasks_schema, parse_generated_subtasks
from planning.prompts import EXPAND_PURPOSE, EXPAND_SYSTEM_PROMPT, expand_request_message
from planning.services.subtasks import task_subtasks_replace

DEFAULT_SUBTASKS = 5
# A task in one of these has nothing left to split.
FINISHED_STATUSES = (Task.Status.DONE, Task.Status.CANCELLED)


@dataclass(frozen=True)
class Expansion:
    task: Task
    subtasks: list[Task]
    # Keys of the subtasks that `force` replaced.
    replaced: list[str]


def _check_expandable(task: Task, *, num: int, force: bool) -> list[Task]:
    """The task's current subtasks, which `force` may replace. Raises DomainError or
    ConflictError when the task cannot be expanded as asked."""
    if not 1 <= num <= MAX_SUBTASKS:
        raise DomainError(f"Ask for 1 to {MAX_SUBTASKS} subtasks.", field="num")
    if task.parent_id is not None:
        raise DomainError(f"{task.key} is a subtask: subtasks are one level deep.")
    if task.status in FINISHED_STATUSES:
        raise DomainError(f"{task.key} is {task.status}: there is nothing left to split.")
    existing = list(task.subtasks.order_by("sort_key"))
    if not existing:
        return existing
    keys = ", ".join(subtask.key for subtask in existing)
    if not force:
        raise ConflictError(
            f"{task.key} already has subtasks ({keys}). Expand with force to replace them."
        )
    started = [subtask.key for subtask in existing if subtask.status != Task.Status.PENDING]
    if started:
        raise ConflictError(
            f"{task.key}'s subtasks {', '.join(started)} have started; force replaces only "
            "subtasks that are all still pending."
        )
    outside = (
        Task.objects.filter(depends_on__in=existing)
        .exclude(parent=task)
        .values_list("key", flat=True)
    )
    if waiting := sorted(set(outside)):
        raise ConflictError(
            f"{', '.join(waiting)} wait for {task.key}'s subtasks; remove those dependencies "
            "before replacing them."
        )
    return existing


def _task_facts(task: Task) -> dict[str, object]:
    return {
        "key": task.key,
        "name": task.name,
        "description": task.description,
        "files": task.shaped_files(),
        "verify": task.verify,
        "done_criteria": task.done_criteria,
        "priority": task.priority,
    }


def task_expand(
    *,
    task: Task,
    num: int = DEFAULT_SUBTASKS,
    force: bool = False,
    actor: User | None = None,
    agent: Agent | None = None,
) -> Expansion:
    """Ask the model to split `task` into at most `num` subtasks, keyed `<key>.<n>`, each
    in its parent's place; with `force`, they replace the task's current subtasks.

    Raises DomainError for a subtask, a finished task, a `num` outside 1..MAX_SUBTASKS
    or a task the offline provider cannot split; ConflictError when the task has
    subtasks and `force` is off, or when any of them has started or is waited on by
    another task; UpstreamError when the model cannot be reached or gives no valid
    reply in MAX_ATTEMPTS.
    """
    _check_expandable(task, num=num, force=force)
    messages = [
        ChatMessage.system(EXPAND_SYSTEM_PROMPT),
        ChatMessage.user(expand_request_message(task=_task_facts(task), num=num)),
    ]
    client = get_llm_client()
    usage = UsageContext(project=task.project, agent=agent, task=task, purpose=EXPAND_PURPOSE)
    response_format = json_schema_format("subtasks", generated_subtasks_schema(), strict=False)
    problem = ""
    try:
        for _ in range(MAX_ATTEMPTS):
            completion = client.complete(
                messages, response_format=response_format, purpose=EXPAND_PURPOSE
            )
            usage_record(completion=completion, context=usage)
            try:
                specs = parse_generated_subtasks(completion.content or "", limit=num)
            except PlanImportError as exc:
                problem = str(exc)
                messages += _sent_back(completion, "That reply was not valid", problem)
                continue
            by = agent.name if agent else getattr(actor, "username", "")
            return _subtasks_replace(task=task, specs=specs, num=num, force=force, by=by)
    except LLMError as exc:
        if exc.kind == "refused":
            raise DomainError(str(exc)) from None
        raise UpstreamError(f"The model could not be reached: {exc}") from None
    raise UpstreamError(
        f"The model gave no valid subtasks for {task.key} in {MAX_ATTEMPTS} attempts. "
        f"Last problem: {problem}"
    )


@transaction.atomic
def _subtasks_replace(
    *, task: Task, specs: list[TaskSpec], num: int, force: bool, by: str
) -> Expansion:
    # The task is locked and checked again: it may have changed while the model thought.
    task = Task.objects.select_for_update().select_related("project").get(pk=task.pk)
    _check_expandable(task, num=num, force=force)
    written = task_subtasks_replace(
        task=task, subtasks=specs, extra={"expanded_by": by} if by else None
    )
    return Expansion(task=task, subtasks=written.created, replaced=written.removed)
