"""Crewboard's MCP tools: for each, its name, descriptions, input schema, profile and the
REST call it makes.

Plain data, no Django: the stdio server sends each call over HTTP, the server's own
`/mcp/` endpoint dispatches it to the same REST view in-process, so both answer alike.
Paths are relative to `/api/v1/projects/{project}/` unless they start with `/`.
"""

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

PROFILES = ("core", "standard", "all")
DEFAULT_PROFILE = "standard"


@dataclass(frozen=True)
class RestCall:
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass(frozen=True)
class Tool:
    name: str
    summary: str  # what the `core` profile shows: a line
    description: str  # what `standard` and `all` show
    profile: str  # the smallest profile that has it
    method: str
    path: str  # with {argument} placeholders
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    query: tuple[str, ...] = ()  # arguments sent in the query string; the rest go in the body
    # The body is this one argument's value rather than an object of the arguments.
    body_argument: str = ""

    def input_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "object", "properties": self.properties}
        if self.required:
            schema["required"] = list(self.required)
        return schema

    def in_profile(self, profile: str) -> bool:
        return PROFILES.index(self.profile) <= PROFILES.index(profile)

    def rest_call(self, arguments: dict[str, Any]) -> RestCall:
        """The request this tool makes for `arguments`; raises ValueError when a
        required argument is missing."""
        missing = [name for name in self.required if arguments.get(name) in (None, "")]
        if missing:
            raise ValueError(f"{self.name} needs {', '.join(missing)}.")
        in_path = {
            name: quote(str(arguments.get(name) or ""), safe="")
            for name in self.properties
            if "{" + name + "}" in self.path
        }
        # An optional path argument left out drops its segment (`state/{key}/` → `state/`).
        path = self.path.format(**in_path).replace("//", "/")
        query = {
            name: _query_value(arguments[name])
            for name in self.query
            if arguments.get(name) is not None
        }
        rest = {
            name: value
            for name, value in arguments.items()
            if name not in in_path and name not in self.query and name in self.properties
        }
        if self.body_argument:
            body: Any = arguments.get(self.body_argument)
        else:
            body = rest if self.method in ("POST", "PUT", "PATCH") else None
        return RestCall(self.method, path, query, body)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _string(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def _integer(description: str) -> dict[str, Any]:
    return {"type": "integer", "description": description}


TASK_KEY = _string("Task key, e.g. 01-02-T1 or 12.3")
RUN_ID = _integer("run.id from claim_task")
ATTEMPT = _integer("run.attempt from claim_task")
PRIORITY = _string("Priority", enum=["high", "medium", "low"])

TOOLS: tuple[Tool, ...] = (
    Tool(
        "claim_task",
        "Claim the next ready task under a lease.",
        "Claim the next ready task under a lease (default 300 s). Returns {run, task, plan, "
        "memory, review_feedback}: keep run.id and run.attempt for complete_task or "
        "fail_task. Nothing ready: a message saying so.",
        "core",
        "POST",
        "tasks/claim/",
        {"lease_seconds": _integer("Lease length in seconds, 10 to 86400")},
    ),
    Tool(
        "get_task",
        "One task by key.",
        "One task by key, with its description, files, verify command, done criteria, "
        "dependencies and status.",
        "core",
        "GET",
        "agent/tasks/{key}/",
        {"key": TASK_KEY},
        ("key",),
    ),
    Tool(
        "heartbeat",
        "Extend the lease on the claimed task.",
        "Say the agent is alive and extend the lease of the run it holds, by its claimed "
        "length or by lease_seconds. Call it well before the lease expires.",
        "core",
        "POST",
        "agents/heartbeat/",
        {"lease_seconds": _integer("Extend by this many seconds")},
    ),
    Tool(
        "report_tool_calls",
        "Log tool calls made for the run.",
        "Log tool calls for the audit trail: each has a call_id, tool_name, input, and once "
        "finished a status (succeeded/failed), output and duration_ms. Resending is safe.",
        "core",
        "POST",
        "runs/{run_id}/tool-calls/",
        {
            "run_id": RUN_ID,
            "calls": {
                "type": "array",
                "description": "Tool calls",
                "items": {
                    "type": "object",
                    "properties": {
                        "call_id": {"type": "string"},
                        "tool_name": {"type": "string"},
                        "input": {"type": "object"},
                        "status": {"type": "string", "enum": ["succeeded", "failed"]},
                        "output": {},
                        "error": {"type": "string"},
                        "duration_ms": {"type": "integer"},
                    },
                    "required": ["call_id"],
                },
            },
        },
        ("run_id", "calls"),
        body_argument="calls",
    ),
    Tool(
        "log_decision",
        "Log a decision and why.",
        "Log a decision taken while working on the run, with its reasoning.",
        "core",
        "POST",
        "runs/{run_id}/decisions/",
        {
            "run_id": RUN_ID,
            "decision": _string("The decision"),
            "reasoning": {"type": "object", "description": "Why, as JSON"},
        },
        ("run_id", "decision"),
    ),
    Tool(
        "complete_task",
        "Finish the run: the task is done.",
        "Finish the run as succeeded: its task is done (or, with branch, waits for review "
        "of that branch). A stale attempt or expired lease is refused.",
        "core",
        "POST",
        "runs/{run_id}/complete/",
        {
            "run_id": RUN_ID,
            "attempt": ATTEMPT,
            "result": {"type": "object", "description": "What was done, as JSON"},
            "branch": _string("Branch holding the work"),
        },
        ("run_id", "attempt"),
    ),
    Tool(
        "fail_task",
        "Finish the run as failed.",
        "Finish the run as failed, with the error: the task goes back to pending for "
        "another attempt.",
        "core",
        "POST",
        "runs/{run_id}/fail/",
        {"run_id": RUN_ID, "attempt": ATTEMPT, "error": _string("What went wrong")},
        ("run_id", "attempt", "error"),
    ),
    Tool(
        "next_task",
        "The next ready task, without claiming it.",
        "The task to work on next (pending, dependencies done; started plans first, then "
        "priority, wave, key), without claiming it. needs_human is true for checkpoints.",
        "standard",
        "GET",
        "agent/tasks/next/",
    ),
    Tool(
        "get_tasks",
        "List tasks, filtered.",
        "List the project's tasks (50 a page), filtered by status, feature, sub-feature, "
        "readiness or words in key and name.",
        "standard",
        "GET",
        "agent/tasks/",
        {
            "status": _string(
                "pending, in_progress, review, blocked, done, failed, cancelled or deferred"
            ),
            "feature": _string("Feature key"),
            "sub_feature": _string("Sub-feature key"),
            "ready": {"type": "boolean", "description": "Only tasks ready to start"},
            "q": _string("Words in key or name"),
            "page": _integer("Page number"),
        },
        query=("status", "feature", "sub_feature", "ready", "q", "page"),
    ),
    Tool(
        "set_task_status",
        "Set the status of the claimed task.",
        "Set the status of the task this agent's claim holds: in_progress or blocked; done "
        "completes the run, pending gives the task back.",
        "standard",
        "POST",
        "agent/tasks/{key}/status/",
        {
            "key": TASK_KEY,
            "status": _string("New status", enum=["in_progress", "blocked", "done", "pending"]),
        },
        ("key", "status"),
    ),
    Tool(
        "add_task",
        "Add a discovered task.",
        "Add a task discovered while working. By default it joins the sub-feature of the "
        "task being worked on, keyed <sub-feature>-T<n>. Needs the agent's may_add_tasks.",
        "standard",
        "POST",
        "agent/tasks/",
        {
            "name": _string("Title"),
            "description": _string("What to do"),
            "sub_feature": _string("Sub-feature key"),
            "feature": _string("Feature key"),
            "depends_on": {"type": "array", "items": {"type": "string"}, "description": "Keys"},
            "priority": PRIORITY,
            "verify": _string("Command or check proving it done"),
        },
        ("name",),
    ),
    Tool(
        "add_subtask",
        "Add a subtask of a task.",
        "Add a subtask of a task, keyed <key>.<n>; the task then waits for it. Needs the "
        "agent's may_add_tasks.",
        "standard",
        "POST",
        "agent/tasks/{key}/subtasks/",
        {
            "key": _string("Parent task key"),
            "name": _string("Title"),
            "description": _string("What to do"),
            "priority": PRIORITY,
        },
        ("key", "name"),
    ),
    Tool(
        "update_task",
        "Edit a task's text or priority.",
        "Change a task's name, description, files, verify command, done criteria, priority, "
        "size or complexity. Needs the agent's may_add_tasks.",
        "standard",
        "PATCH",
        "agent/tasks/{key}/",
        {
            "key": TASK_KEY,
            "name": _string("Title"),
            "description": _string("What to do"),
            "verify": _string("Command or check proving it done"),
            "done_criteria": _string("When it is done"),
            "priority": PRIORITY,
        },
        ("key",),
    ),
    Tool(
        "add_dependency",
        "Make a task wait for another.",
        "Make a task wait for another. An edge that would close a cycle is refused with "
        "the cycle. Needs the agent's may_add_tasks.",
        "standard",
        "POST",
        "agent/tasks/{key}/dependencies/",
        {"key": TASK_KEY, "depends_on": _string("Key of the task it waits for")},
        ("key", "depends_on"),
    ),
    Tool(
        "remember",
        "Remember a fact for later runs.",
        "Remember a fact about the project (a convention, a pitfall, a command) for this "
        "and later runs, with a confidence from 0 to 1.",
        "standard",
        "POST",
        "agent/memory/",
        {
            "subject": _string("What it is about"),
            "learned": _string("The fact"),
            "confidence": {"type": "number", "description": "0 to 1, default 0.7"},
            "source": _string("Where it was learned"),
            "run": _integer("The run it was learned in"),
        },
        ("subject", "learned"),
    ),
    Tool(
        "recall",
        "Recall facts by words.",
        "Recall remembered facts of the project (and global ones) that mention the words, "
        "most confident first.",
        "standard",
        "GET",
        "agent/memory/",
        {"q": _string("Words to look for")},
        query=("q",),
    ),
    Tool(
        "ask_human",
        "Ask a person; the task waits.",
        "Ask a person a question: it lands in the inbox as a checkpoint task that the "
        "claimed task waits on. With options the person picks one. Read the answer with "
        "get_answer.",
        "standard",
        "POST",
        "runs/{run_id}/questions/",
        {
            "run_id": RUN_ID,
            "question": _string("The question"),
            "options": {"type": "array", "items": {"type": "string"}, "description": "Choices"},
        },
        ("run_id", "question"),
    ),
    Tool(
        "get_answer",
        "A question's answer, once given.",
        "A question's checkpoint and, once a person has answered, the answer (approved, "
        "choice, note, by).",
        "standard",
        "GET",
        "agent/questions/{key}/",
        {"key": _string("The checkpoint key ask_human returned")},
        ("key",),
    ),
    Tool(
        "remove_dependency",
        "Stop a task waiting for another.",
        "Remove the edge: the task no longer waits for depends_on. Needs the agent's "
        "may_add_tasks.",
        "all",
        "DELETE",
        "agent/tasks/{key}/dependencies/{depends_on}/",
        {"key": TASK_KEY, "depends_on": _string("Key of the task it waits for")},
        ("key", "depends_on"),
    ),
    Tool(
        "get_state",
        "Read the agent's state.",
        "Read the agent's own key-value state: one entry by key, or every entry.",
        "all",
        "GET",
        "agent/state/{key}/",
        {"key": _string("Entry key; leave empty for every entry")},
    ),
    Tool(
        "set_state",
        "Write one entry of the agent's state.",
        "Write one entry of the agent's own key-value state (any JSON value).",
        "all",
        "PUT",
        "agent/state/{key}/",
        {"key": _string("Entry key"), "value": {"description": "Any JSON value"}},
        ("key", "value"),
    ),
    Tool(
        "plan_analytics",
        "Waves, critical path, blocked tasks.",
        "The plan's computed waves, critical path, ready/blocked/done tasks, progress per "
        "feature and cycle checks.",
        "all",
        "GET",
        "agent/analytics/",
    ),
    Tool(
        "parse_prd",
        "Generate a plan from a PRD.",
        "Queue plan generation from a PRD or requirements text; the plan becomes a new "
        "version when the planning run ends. Needs the agent's may_add_tasks.",
        "all",
        "POST",
        "agent/generate/",
        {"requirements": _string("The PRD or requirements")},
        ("requirements",),
    ),
)

TOOLS_BY_NAME = {tool.name: tool for tool in TOOLS}


def tools_for(profile: str) -> list[Tool]:
    """The tools of a profile; raises ValueError for an unknown one."""
    if profile not in PROFILES:
        raise ValueError(f"Unknown tool profile {profile!r}: use one of {', '.join(PROFILES)}.")
    return [tool for tool in TOOLS if tool.in_profile(profile)]


def tool_definitions(profile: str) -> list[dict[str, Any]]:
    """The profile's tools as MCP lists them: `core` with one-line descriptions."""
    return [
        {
            "name": tool.name,
            "description": tool.summary if profile == "core" else tool.description,
            "inputSchema": tool.input_schema(),
        }
        for tool in tools_for(profile)
    ]


def project_path(project: str, path: str) -> str:
    """The absolute API path of a tool's relative `path` in `project`."""
    if path.startswith("/"):
        return path
    return f"/api/v1/projects/{quote(project, safe='')}/{path}"
