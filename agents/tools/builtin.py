"""The built-in tools: tasks, decisions, state, memory and `finish`."""

from typing import Any

from agents import selectors as agent_selectors
from agents import services as agent_services
from agents.tools import ToolContext, ToolError, tool
from memory import selectors as memory_selectors
from memory import services as memory_services
from planning import services as planning_services
from planning.models import Task

KEY = {"type": "string", "minLength": 1, "maxLength": 50}
AGENT_STATUSES = ["in_progress", "review", "blocked", "done", "failed"]


def _task(context: ToolContext, key: str) -> Task:
    task = Task.objects.filter(project=context.project, key=key).first()
    if task is None:
        raise ToolError(f"there is no task {key!r} in this project")
    return task


def _describe(task: Task) -> dict[str, Any]:
    return {
        "key": task.key,
        "name": task.name,
        "type": task.type,
        "status": task.status,
        "priority": task.priority,
        "description": task.description,
        "files": task.shaped_files(),
        "verify": task.verify,
        "done_criteria": task.done_criteria,
        "depends_on": list(task.depends_on.values_list("key", flat=True)),
    }


@tool(
    name="get_task",
    reads_only=True,
    description="Read one task of this project: what to do, how to verify it, its dependencies.",
    parameters={
        "type": "object",
        "properties": {"key": KEY},
        "required": ["key"],
        "additionalProperties": False,
    },
)
def get_task(context: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    return _describe(_task(context, args["key"]))


@tool(
    name="list_tasks",
    reads_only=True,
    description="List tasks of this project (key, name, status), optionally by status.",
    parameters={
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": list(Task.Status.values)},
            "limit": {"type": "integer", "minimum": 1, "maximum": 200},
        },
        "additionalProperties": False,
    },
)
def list_tasks(context: ToolContext, args: dict[str, Any]) -> list[dict[str, str]]:
    tasks = context.project.tasks.order_by("position", "key")
    if args.get("status"):
        tasks = tasks.filter(status=args["status"])
    return [
        {"key": k, "name": n, "status": s}
        for k, n, s in tasks.values_list("key", "name", "status")[: args.get("limit", 50)]
    ]


@tool(
    name="update_task_status",
    description="Move a task to another status as work progresses.",
    parameters={
        "type": "object",
        "properties": {"key": KEY, "status": {"type": "string", "enum": AGENT_STATUSES}},
        "required": ["key", "status"],
        "additionalProperties": False,
    },
)
def update_task_status(context: ToolContext, args: dict[str, Any]) -> dict[str, str]:
    task = _task(context, args["key"])
    if task.assigned_agent_id not in (None, getattr(context.agent, "pk", None)):
        raise ToolError(f"task {task.key} belongs to another agent's run")
    task = planning_services.task_set_status(task=task, status=args["status"])
    return {"key": task.key, "status": task.status}


@tool(
    name="log_decision",
    description="Record a decision and the reasoning behind it in the audit log.",
    parameters={
        "type": "object",
        "properties": {
            "decision": {"type": "string", "minLength": 1, "maxLength": 5000},
            "reasoning": {"type": "object"},
        },
        "required": ["decision"],
        "additionalProperties": False,
    },
)
def log_decision(context: ToolContext, args: dict[str, Any]) -> dict[str, int]:
    decision = agent_services.decision_record(
        project=context.project,
        decision=args["decision"],
        reasoning=args.get("reasoning", {}),
        agent=context.agent,
        run=context.run,
        task=context.task,
    )
    return {"decision_id": decision.pk}


STATE_KEY = {"type": "string", "minLength": 1, "maxLength": 200}


@tool(
    name="get_state",
    reads_only=True,
    description="Read a value from the project's key-value state store (null when unset).",
    parameters={
        "type": "object",
        "properties": {"namespace": STATE_KEY, "key": STATE_KEY},
        "required": ["namespace", "key"],
        "additionalProperties": False,
    },
)
def get_state(context: ToolContext, args: dict[str, Any]) -> Any:
    entry = agent_selectors.agent_state_get(
        project=context.project, namespace=args["namespace"], key=args["key"]
    )
    return None if entry is None else entry.value


@tool(
    name="set_state",
    description="Store a JSON value in the project's key-value state store.",
    parameters={
        "type": "object",
        "properties": {"namespace": STATE_KEY, "key": STATE_KEY, "value": {}},
        "required": ["namespace", "key", "value"],
        "additionalProperties": False,
    },
)
def set_state(context: ToolContext, args: dict[str, Any]) -> dict[str, str]:
    agent_services.agent_state_set(
        project=context.project, namespace=args["namespace"], key=args["key"], value=args["value"]
    )
    return {"stored": f"{args['namespace']}/{args['key']}"}


@tool(
    name="remember",
    description="Save something learned for later runs, with how sure you are (0-1).",
    parameters={
        "type": "object",
        "properties": {
            "subject": {"type": "string", "minLength": 1, "maxLength": 300},
            "learned": {"type": "string", "minLength": 1},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "source": {"type": "string", "maxLength": 300},
        },
        "required": ["subject", "learned", "confidence"],
        "additionalProperties": False,
    },
)
def remember(context: ToolContext, args: dict[str, Any]) -> dict[str, int]:
    fact = memory_services.memory_fact_create(
        project=context.project,
        subject=args["subject"],
        learned=args["learned"],
        confidence=args["confidence"],
        source=args.get("source") or f"run {context.run.pk if context.run else '-'}",
        agent=context.agent,
        run=context.run,
        tool_call=context.tool_call,
    )
    return {"fact_id": fact.pk}


@tool(
    name="recall",
    reads_only=True,
    description="Search what agents learned before (this project's facts and global ones).",
    parameters={
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": 500},
            "limit": {"type": "integer", "minimum": 1, "maximum": 50},
        },
        "required": ["query"],
        "additionalProperties": False,
    },
)
def recall(context: ToolContext, args: dict[str, Any]) -> list[dict[str, Any]]:
    facts = memory_selectors.memory_fact_search(
        project=context.project, query=args["query"], limit=args.get("limit", 10)
    )
    return [
        {"subject": f.subject, "learned": f.body.get("learned"), "confidence": f.confidence}
        for f in facts
    ]


@tool(
    name="finish",
    reads_only=True,
    description="End the run: call it once the work is done (or cannot be done).",
    parameters={
        "type": "object",
        "properties": {
            "summary": {"type": "string", "minLength": 1, "maxLength": 5000},
            "outcome": {"type": "string", "enum": ["succeeded", "failed"]},
        },
        "required": ["summary"],
        "additionalProperties": False,
    },
)
def finish(context: ToolContext, args: dict[str, Any]) -> dict[str, str]:
    return {"outcome": args.get("outcome", "succeeded"), "summary": args["summary"]}
