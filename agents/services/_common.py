"""Helpers shared by the agents services."""

import functools
from typing import Protocol

from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.db.models import Model, UniqueConstraint

from agents.models import (
    Agent,
    AgentRun,
)
from core.db import is_unique_violation
from core.errors import ConflictError, DomainError
from core.inserts import insert_rows
from planning.models import Project, Task


class InProject(Protocol):
    """A row of one project: an agent, a run, a task, a planning cycle."""

    @property
    def project_id(self) -> int: ...


def _insert_once(instance: Model, *, conflict: str, checked: bool = False) -> None:
    """Insert `instance`, turning a lost race on a unique column into ConflictError.

    The database's unique index is the arbiter, so two concurrent requests cannot both
    win. No savepoint is taken: the caller's transaction, if any, is given up on the
    error either way (an agent step inserts two log rows a step, and a savepoint costs
    two statements each).

    `checked`: the caller has validated the row already (_check_loaded_row, say);
    otherwise it is fully validated here.
    """
    if not checked:
        instance.full_clean(validate_unique=False, validate_constraints=False)
        _validate_all_but_unique_constraints(instance)
    try:
        insert_rows([instance])
    except IntegrityError as exc:
        if is_unique_violation(exc):
            raise ConflictError(conflict) from None
        raise


def _check_loaded_row(instance: Model) -> None:
    """Validate a row a service builds itself from objects already loaded (the audit log
    on an agent's hot path): only the field values are checked, which costs no query;
    the links exist and the database enforces the constraints."""
    instance.clean_fields(exclude=_relation_names(type(instance)))


@functools.cache
def _relation_names(model: type[Model]) -> frozenset[str]:
    """A model's link fields, which _check_loaded_row leaves out (several rows a step)."""
    return frozenset(f.name for f in model._meta.concrete_fields if f.is_relation)


def _validate_all_but_unique_constraints(instance: Model) -> None:
    """Model.validate_constraints without the unique ones: the insert decides those, and
    a duplicate is a conflict (409), not invalid input."""
    errors = []
    for constraint in instance._meta.constraints:
        if isinstance(constraint, UniqueConstraint):
            continue
        try:
            # Django's BaseConstraint.validate; django-stubs declare it on subclasses only.
            constraint.validate(type(instance), instance)  # type: ignore[attr-defined]
        except ValidationError as exc:
            errors.append(exc)
    if errors:
        raise ValidationError(errors)


def _check_same_project(project: Project, **links: InProject | None) -> None:
    for field, obj in links.items():
        if obj is not None and obj.project_id != project.pk:
            raise DomainError(f"{obj} belongs to another project.", field=field)


def _resolve_links(
    project: Project,
    *,
    agent: Agent | None,
    run: AgentRun | None,
    task: Task | None,
) -> tuple[Agent | None, Task | None]:
    """Check a log row's links and fill the agent and task in from the run when omitted."""
    _check_same_project(project, agent=agent, run=run, task=task)
    if run is not None:
        if agent is not None and agent.pk != run.agent_id:
            raise DomainError(f"Run {run.pk} belongs to another agent.", field="run")
        agent = agent or run.agent
        if task is None and run.task_id is not None:
            task = run.task
    return agent, task
