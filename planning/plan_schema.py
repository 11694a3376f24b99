"""The published JSON shapes an LLM must produce: a generated plan, and chat plan edits.

Pydantic models give both the JSON schema sent to the model (`response_format`) and the
validation of its reply, with error messages precise enough to send back for a retry.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.text import contains_nul, without_nul
from planning.importers.document import (
    FeatureSpec,
    PlanDocument,
    PlanImportError,
    SubFeatureSpec,
    TaskSpec,
)

Key = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]
TaskTypeName = Literal[
    "auto", "tdd", "checkpoint:human-verify", "checkpoint:decision", "checkpoint:human-action"
]
PriorityName = Literal["high", "medium", "low"]
SizeName = Literal["atomic", "small", "medium", "large"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GeneratedTask(_Strict):
    key: Key
    name: str = Field(min_length=1, max_length=300)
    description: str = ""
    files: list[str] = []
    verify: str = ""
    done_criteria: str = ""
    type: TaskTypeName = "auto"
    priority: PriorityName = "medium"
    size: SizeName = "small"
    estimated_minutes: int = Field(default=15, ge=1, le=10_000)
    depends_on: list[Key] = []
    # Work the requirements say is finished already (a `- [x]` item).
    done: bool = False


class GeneratedSubFeature(_Strict):
    key: Key
    name: str = Field(min_length=1, max_length=300)
    objective: str = ""
    wave: int = Field(default=1, ge=1, le=1000)
    depends_on: list[Key] = []
    tasks: list[GeneratedTask] = Field(min_length=1)


class GeneratedFeature(_Strict):
    key: Key
    name: str = Field(min_length=1, max_length=300)
    description: str = ""
    priority: PriorityName = "medium"
    sub_features: list[GeneratedSubFeature] = Field(min_length=1)


class GeneratedPlan(_Strict):
    """A plan as the planning model must return it."""

    features: list[GeneratedFeature] = Field(min_length=1)


def generated_plan_schema() -> dict[str, Any]:
    return GeneratedPlan.model_json_schema()


def describe_validation_error(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors()[:20]:
        where = ".".join(str(part) for part in error["loc"]) or "(root)"
        lines.append(f"{where}: {error['msg']}")
    # The location echoes the model's own keys, which may hold a NUL; the text is stored.
    return without_nul("\n".join(lines))


def refuse_nul_characters(reply: BaseModel) -> None:
    """Raise PlanImportError, for the model to fix, when a validated reply holds a NUL
    character (`\\u0000`) anywhere: PostgreSQL could not store it."""
    if contains_nul(reply.model_dump()):
        raise PlanImportError(
            "the reply contains a NUL character (\\u0000), which cannot be stored; leave it out"
        )


def parse_generated_plan(text: str) -> PlanDocument:
    """Validate a model's JSON reply and turn it into a plan document.

    Raises PlanImportError with every problem listed, ready to send back to the model.
    """
    try:
        plan = GeneratedPlan.model_validate_json(text)
    except ValidationError as exc:
        raise PlanImportError(
            "the reply does not match the plan schema:\n" + describe_validation_error(exc)
        ) from None
    refuse_nul_characters(plan)
    document = PlanDocument(source="generated")
    for f_position, feature in enumerate(plan.features):
        document.features.append(
            FeatureSpec(
                key=feature.key,
                name=feature.name,
                description=feature.description,
                priority=feature.priority,
                position=f_position,
            )
        )
        for s_position, sub in enumerate(feature.sub_features):
            document.sub_features.append(
                SubFeatureSpec(
                    key=sub.key,
                    feature=feature.key,
                    name=sub.name,
                    objective=sub.objective,
                    wave=sub.wave,
                    position=s_position,
                    depends_on=list(sub.depends_on),
                )
            )
            for t_position, task in enumerate(sub.tasks, start=1):
                document.tasks.append(
                    _task_spec(
                        task,
                        position=t_position,
                        feature=feature.key,
                        sub_feature=sub.key,
                        wave=sub.wave,
                        status="done" if task.done else None,
                    )
                )
    document.validate()
    return document


# Task expansion --------------------------------------------------------------------------

MAX_SUBTASKS = 20  # what one expansion may add to a task


def _task_spec(task: GeneratedTask, *, position: int, **placement: Any) -> TaskSpec:
    """A generated task as the importers' TaskSpec; `placement` puts it in its plan."""
    return TaskSpec(
        key=task.key,
        name=task.name,
        description=task.description,
        files=list(task.files),
        verify=task.verify,
        done_criteria=task.done_criteria,
        type=task.type,
        priority=task.priority,
        size=task.size,
        estimated_minutes=task.estimated_minutes,
        position=position,
        depends_on=list(task.depends_on),
        **placement,
    )


class GeneratedSubtasks(_Strict):
    """A task's subtasks as the expanding model must return them: tasks as in a generated
    plan, whose `depends_on` names earlier subtasks of the same reply."""

    subtasks: list[GeneratedTask] = Field(min_length=1, max_length=MAX_SUBTASKS)


def generated_subtasks_schema() -> dict[str, Any]:
    return GeneratedSubtasks.model_json_schema()


def parse_generated_subtasks(text: str, *, limit: int) -> list[TaskSpec]:
    """Validate a model's JSON reply of at most `limit` subtasks, in order, keyed as the
    model keyed them (the caller gives them their own keys).

    Raises PlanImportError with every problem listed, ready to send back to the model.
    """
    try:
        reply = GeneratedSubtasks.model_validate_json(text)
    except ValidationError as exc:
        raise PlanImportError(
            "the reply does not match the subtask schema:\n" + describe_validation_error(exc)
        ) from None
    refuse_nul_characters(reply)
    if len(reply.subtasks) > limit:
        raise PlanImportError(f"the reply has {len(reply.subtasks)} subtasks; give at most {limit}")
    document = PlanDocument(source="generated")
    for position, task in enumerate(reply.subtasks, start=1):
        document.tasks.append(_task_spec(task, position=position))
    # The same checks as a generated plan's: unique keys, known dependencies, no cycle.
    document.validate()
    return document.tasks


# Chat edits ------------------------------------------------------------------------------

FEATURE_FIELDS = {"name", "description", "priority", "position"}
TASK_FIELDS = {
    "name",
    "description",
    "files",
    "verify",
    "done_criteria",
    "type",
    "priority",
    "size",
    "complexity",
    "estimated_minutes",
    "max_iterations",
    "feature",
    "sub_feature",
    "wave",
    "position",
}


class PlanEdit(_Strict):
    """One operation: add, update or remove a feature, task or dependency."""

    op: Literal["add", "update", "remove"]
    entity: Literal["feature", "task", "dependency"]
    key: Key | None = Field(default=None, description="feature or task key")
    fields: dict[str, Any] = Field(default_factory=dict)
    task: Key | None = Field(default=None, description="for dependencies: the waiting task")
    depends_on: Key | None = Field(default=None, description="for dependencies: what it waits for")


class PlanEditList(_Strict):
    edits: list[PlanEdit]


def parse_plan_edits(data: Any) -> list[PlanEdit]:
    """Raises PlanImportError listing what is wrong with the edit list."""
    try:
        return PlanEditList.model_validate({"edits": data}).edits
    except ValidationError as exc:
        raise PlanImportError("invalid plan edits:\n" + describe_validation_error(exc)) from None


def apply_plan_edits(document: PlanDocument, edits: list[PlanEdit]) -> PlanDocument:
    """A copy of `document` with every edit applied, validated as a whole.

    Raises PlanImportError naming the first edit that cannot apply; the input is untouched.
    """
    result = copy.deepcopy(document)
    for number, edit in enumerate(edits, start=1):
        try:
            _apply_edit(result, edit)
        except PlanImportError as exc:
            raise PlanImportError(
                f"edit {number} ({edit.op} {edit.entity}): {exc.reason}"
            ) from None
    try:
        result.validate()
    except PlanImportError as exc:
        raise PlanImportError(f"the edited plan is not valid: {exc.reason}") from None
    return result


def _apply_edit(document: PlanDocument, edit: PlanEdit) -> None:
    if edit.entity == "dependency":
        if not edit.task or not edit.depends_on:
            raise PlanImportError("a dependency edit needs `task` and `depends_on`")
        task = _find(document.tasks, edit.task, "task")
        _find(document.tasks, edit.depends_on, "task")
        if edit.op == "add":
            if edit.depends_on in task.depends_on:
                raise PlanImportError(f"{edit.task} already depends on {edit.depends_on}")
            task.depends_on.append(edit.depends_on)
        elif edit.op == "remove":
            if edit.depends_on not in task.depends_on:
                raise PlanImportError(f"{edit.task} does not depend on {edit.depends_on}")
            task.depends_on.remove(edit.depends_on)
        else:
            raise PlanImportError("dependencies can be added or removed, not updated")
        return
    if not edit.key:
        raise PlanImportError(f"a {edit.entity} edit needs a `key`")
    specs = document.features if edit.entity == "feature" else document.tasks
    allowed = FEATURE_FIELDS if edit.entity == "feature" else TASK_FIELDS
    unknown = set(edit.fields) - allowed
    if unknown:
        raise PlanImportError(f"unknown {edit.entity} fields: {', '.join(sorted(unknown))}")
    if edit.op == "add":
        if any(s.key == edit.key for s in specs):
            raise PlanImportError(f"{edit.entity} {edit.key} already exists")
        if "name" not in edit.fields:
            raise PlanImportError(f"a new {edit.entity} needs a name")
        cls = FeatureSpec if edit.entity == "feature" else TaskSpec
        try:
            spec = cls(key=edit.key, **edit.fields)
        except TypeError as exc:
            raise PlanImportError(str(exc)) from None
        if isinstance(spec, FeatureSpec):
            spec.position = edit.fields.get("position", len(document.features))
            document.features.append(spec)
        else:
            document.tasks.append(spec)
    elif edit.op == "update":
        spec = _find(specs, edit.key, edit.entity)
        for name, value in edit.fields.items():
            setattr(spec, name, value)
    else:
        _find(specs, edit.key, edit.entity)
        if edit.entity == "feature":
            _remove_feature(document, edit.key)
        else:
            document.tasks = [t for t in document.tasks if t.key != edit.key]
            for task in document.tasks:
                if edit.key in task.depends_on:
                    task.depends_on.remove(edit.key)


def _remove_feature(document: PlanDocument, key: str) -> None:
    subs = {s.key for s in document.sub_features if s.feature == key}
    gone = {t.key for t in document.tasks if t.feature == key}
    document.features = [f for f in document.features if f.key != key]
    document.sub_features = [s for s in document.sub_features if s.feature != key]
    document.tasks = [t for t in document.tasks if t.key not in gone]
    for sub in document.sub_features:
        sub.depends_on = [d for d in sub.depends_on if d not in subs]
    for task in document.tasks:
        task.depends_on = [d for d in task.depends_on if d not in gone]
    for req in document.requirements:
        req.features = [f for f in req.features if f != key]


def _find(specs: list[Any], key: str, what: str) -> Any:
    for spec in specs:
        if spec.key == key:
            return spec
    raise PlanImportError(f"there is no {what} {key}")
