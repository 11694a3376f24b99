"""The tools of an agent working on a claimed task: claim, heartbeat, report, finish."""

from cli.mcp_tools.base import ATTEMPT, RUN_ID, TASK_KEY, Tool, integer, string

WORK_TOOLS: tuple[Tool, ...] = (
    Tool(
        "claim_task",
        "Claim the next ready task under a lease.",
        "Claim the next ready task under a lease (default 300 s). Returns {run, task, plan, "
        "memory, review_feedback}: keep run.id and run.attempt for complete_task or "
        "fail_task. Nothing ready: a message saying so.",
        "core",
        "POST",
        "tasks/claim/",
        {"lease_seconds": integer("Lease length in seconds, 10 to 86400")},
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
        run_key=True,
    ),
    Tool(
        "heartbeat",
        "Extend the lease on the claimed task.",
        "Say the agent is alive and extend the lease of the run it holds, by its claimed "
        "length or by lease_seconds. Call it well before the lease expires.",
        "core",
        "POST",
        "agents/heartbeat/",
        {"lease_seconds": integer("Extend by this many seconds")},
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
        run_key=True,
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
            "decision": string("The decision"),
            "reasoning": {"type": "object", "description": "Why, as JSON"},
        },
        ("run_id", "decision"),
        run_key=True,
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
            "branch": string("Branch holding the work"),
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
        {"run_id": RUN_ID, "attempt": ATTEMPT, "error": string("What went wrong")},
        ("run_id", "attempt", "error"),
    ),
)
