"""What an external agent changes in its project's plan with its key.

An agent sets the status of the task its run holds; with its `may_add_tasks` flag it also
adds the tasks and subtasks it discovers, edits tasks and adds or removes dependencies.
Every change goes through planning's services, which keep the plan's rules (cycles,
cross-project links, roll-ups).
"""

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction

from agents.models import Agent, AgentRun
from agents.services.external import agent_run_complete, agent_run_fail
from agents.services.planner import plan_generation_start
from agents.services.task_expansion import DEFAULT_SUBTASKS, Expansion, task_expand
from core.errors import ConflictError, DomainError, PermissionDeniedError
from planning import services as planning_services
from planning.models import Feature, SubFeature, Task, TaskDependency

# Statuses an agent sets on the task it holds without finishing its run.
WORKING_STATUSES = (Task.Status.IN_PROGRESS, Task.Status.BLOCKED)
# What an agent may change on a task with update_task.
EDITABLE_FIELDS = frozenset(
    {"name", "description", "files", "verify", "done_criteria", "priority", "size", "complexity"}
)


def _check_may_edit_plan(agent: Agent) -> None:
    if not agent.may_add_tasks:
        raise PermissionDeniedError(
            f"Agent {agent.name} may not add or change tasks: an owner or editor can allow "
            "it (the agent's may_add_tasks)."
        )


def _held_run(*, agent: Agent, task: Task) -> AgentRun:
    run = (
        AgentRun.objects.filter(agent=agent, task=task, status=AgentRun.Status.RUNNING)
        .order_by("-id")
        .first()
    )
    if run is None:
        raise ConflictError(f"Agent {agent.name} holds no running claim on {task.key}.")
    return run


def agent_task_set_status(*, agent: Agent, task: Task, status: str) -> Task:
    """Set the status of the task the agent's running run holds.

    `done` completes the run and `pending` fails it (the task goes back to the queue),
    both through the run's owner; `in_progress` and `blocked` only change the task.
    Raises ConflictError when the agent holds no running claim on the task, and
    DomainError for any other status.
    """
    run = _held_run(agent=agent, task=task)
    if status == Task.Status.DONE:
        agent_run_complete(run=run, agent=agent, attempt=run.attempt, result={})
    elif status == Task.Status.PENDING:
        agent_run_fail(run=run, agent=agent, attempt=run.attempt, error="given back by the agent")
    elif status in WORKING_STATUSES:
        planning_services.task_set_status(task=task, status=status)
    else:
        allowed = ", ".join([Task.Status.DONE, Task.Status.PENDING, *WORKING_STATUSES])
        raise DomainError(f"An agent sets its task to one of: {allowed}.", field="status")
    task.refresh_from_db()
    return task


def _free_key(*, project_id: int, stem: str) -> str:
    taken = set(
        Task.objects.filter(project_id=project_id, key__startswith=stem).values_list(
            "key", flat=True
        )
    )
    number = 1
    while f"{stem}{number}" in taken:
        number += 1
    return f"{stem}{number}"


@transaction.atomic
def agent_task_add(
    *,
    agent: Agent,
    name: str,
    key: str = "",
    feature: Feature | None = None,
    sub_feature: SubFeature | None = None,
    depends_on: Iterable[Task] = (),
    parent: Task | None = None,
    **fields: Any,
) -> Task:
    """Add a task the agent discovered. Without a place, it joins the sub-feature (or
    feature) of the task the agent is working on.

    Raises PermissionDeniedError without `may_add_tasks`, ConflictError for a key in
    use, and PlanError for links into another project or a cycle.
    """
    _check_may_edit_plan(agent)
    if feature is None and sub_feature is None and agent.current_task_id is not None:
        current = Task.objects.select_related("feature", "sub_feature").get(
            pk=agent.current_task_id
        )
        feature, sub_feature = current.feature, current.sub_feature
    stem = f"{sub_feature.key}-T" if sub_feature else "T"
    key = key or _free_key(project_id=agent.project_id, stem=stem)
    if Task.objects.filter(project_id=agent.project_id, key=key).exists():
        raise ConflictError(f"Task {key} already exists.")
    extra = {**fields.pop("extra", {}), "added_by": agent.name}
    return planning_services.task_create(
        project=agent.project,
        key=key,
        name=name,
        feature=feature,
        sub_feature=sub_feature,
        depends_on=depends_on,
        parent=parent,
        extra=extra,
        **fields,
    )


@transaction.atomic
def agent_subtask_add(*, agent: Agent, parent: Task, name: str, **fields: Any) -> Task:
    """Add a subtask of `parent`, keyed `<parent>.<n>`, in its parent's place and, unless
    given, with its parent's priority. As in Task Master, a subtask is ready once its
    parent could start, and the subtasks of a task in progress come first in `next`.
    Raises as agent_task_add does, and PlanError when `parent` is itself a subtask.
    """
    fields.setdefault("priority", parent.priority)
    return agent_task_add(
        agent=agent,
        name=name,
        key=_free_key(project_id=parent.project_id, stem=f"{parent.key}."),
        feature=parent.feature,
        sub_feature=parent.sub_feature,
        parent=parent,
        **fields,
    )


def agent_task_update(*, agent: Agent, task: Task, data: Mapping[str, Any]) -> Task:
    """Change a task's description fields (not its status, place or agent).

    Raises PermissionDeniedError without `may_add_tasks`, DomainError for other fields.
    """
    _check_may_edit_plan(agent)
    other = sorted(set(data) - EDITABLE_FIELDS)
    if other:
        raise DomainError(
            f"An agent may change only {', '.join(sorted(EDITABLE_FIELDS))}.", field=other[0]
        )
    return planning_services.task_update(task=task, data=data)


def agent_dependency_add(*, agent: Agent, task: Task, depends_on: Task) -> TaskDependency:
    """Record that `task` waits for `depends_on`.

    Raises PermissionDeniedError without `may_add_tasks`, PlanError naming the cycle the
    edge would close, and ConflictError when it exists.
    """
    _check_may_edit_plan(agent)
    return planning_services.task_add_dependency(task=task, depends_on=depends_on)


def agent_dependency_remove(*, agent: Agent, task: Task, depends_on: Task) -> None:
    """Drop the edge `task` → `depends_on`.

    Raises PermissionDeniedError without `may_add_tasks`, DomainError when there is none.
    """
    _check_may_edit_plan(agent)
    edge = TaskDependency.objects.filter(task=task, depends_on=depends_on).first()
    if edge is None:
        raise DomainError(f"{task.key} does not depend on {depends_on.key}.")
    planning_services.task_remove_dependency(edge=edge)


def agent_plan_generate(*, agent: Agent, requirements: str) -> AgentRun:
    """Queue plan generation from `requirements` for the agent's project.

    Raises PermissionDeniedError without `may_add_tasks`; DomainError as
    plan_generation_start does.
    """
    _check_may_edit_plan(agent)
    return plan_generation_start(project=agent.project, requirements=requirements)


def agent_task_expand(
    *, agent: Agent, task: Task, num: int = DEFAULT_SUBTASKS, force: bool = False
) -> Expansion:
    """Have the planning model split `task` into subtasks, as task_expand does.

    Raises PermissionDeniedError without `may_add_tasks`, and as task_expand does.
    """
    _check_may_edit_plan(agent)
    return task_expand(task=task, num=num, force=force, agent=agent)
