"""The MCP server both transports serve: tools and resources over a REST caller.

The caller makes one REST request and returns its status and decoded body; over stdio it
is an HTTP client, on the server's `/mcp/` endpoint the REST views themselves. Any
failure becomes an MCP tool error with a readable text: the server never crashes on it.
"""

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server

from cli.mcp_tools import TOOLS_BY_NAME, RestCall, project_path, tool_definitions, tools_for
from cli.mcp_tools.base import RUN_ID_ARGUMENT

logger = logging.getLogger(__name__)

# (method, absolute path, query, JSON body) → (HTTP status, decoded JSON or text)
Caller = Callable[[RestCall], Awaitable[tuple[int, Any]]]

PLAN_URI = "crewboard://plan"
TASK_URI_PREFIX = "crewboard://tasks/"
EMPTY_ANSWERS = {
    "claim_task": "No task is ready to claim.",
    "next_task": "No task is ready.",
}
INSTRUCTIONS = (
    "Crewboard holds the plan and the record of the work. To work: claim_task, keep "
    "run.id and run.attempt, heartbeat while working, report_tool_calls and log_decision "
    "as you go, then complete_task or fail_task."
)
RUN_KEY_INSTRUCTIONS = (
    "Crewboard runs you as a coding CLI on run {run}, with its run key. Read the plan and "
    "tasks, report_tool_calls and log_decision on this run (run_id may be left out), "
    "remember and recall facts, and ask_human when a person must decide. Claiming, "
    "finishing and changing work are not open to a run key: your exit code and "
    "Crewboard's checks decide how the run ends."
)


def error_text(status: int, data: Any) -> str:
    """A REST error as one readable line: the status and what the API said."""
    if isinstance(data, dict) and set(data) == {"detail"}:
        said = str(data["detail"])
    elif isinstance(data, (dict, list)):
        said = json.dumps(data, ensure_ascii=False)
    else:
        said = str(data or "").strip()[:2000] or "no details"
    return f"HTTP {status}: {said}"


def task_markdown(task: dict[str, Any]) -> str:
    """A task as the Markdown its resource shows."""
    lines = [f"# {task.get('key')}: {task.get('name')}", ""]
    facts = [
        ("Status", task.get("status")),
        ("Type", task.get("type")),
        ("Priority", task.get("priority")),
        ("Feature", task.get("feature")),
        ("Sub-feature", task.get("sub_feature")),
        ("Subtask of", task.get("parent")),
        ("Depends on", ", ".join(task.get("depends_on") or []) or None),
    ]
    lines += [f"- **{label}:** {value}" for label, value in facts if value]
    for heading, name in (
        ("Description", "description"),
        ("Verify", "verify"),
        ("Done when", "done_criteria"),
    ):
        if task.get(name):
            lines += ["", f"## {heading}", "", str(task[name])]
    if task.get("files"):
        lines += ["", "## Files", ""] + [f"- `{path}`" for path in task["files"]]
    return "\n".join(lines) + "\n"


def _text(text: str, *, error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=error)


def tool_rest_call(*, project: str, name: str, arguments: dict[str, Any]) -> RestCall:
    """The REST request tool `name` makes in `project` for `arguments`. Raises KeyError
    for an unknown tool and ValueError when a required argument is missing."""
    request = TOOLS_BY_NAME[name].rest_call(arguments)
    return RestCall(
        request.method, project_path(project, request.path), request.query, request.body
    )


def run_key_refusal(name: str, run: int) -> str:
    """Why a run key may not call tool `name`: the REST API's 403, said before the call."""
    return (
        f"Tool {name!r} is not open to a run key: it reports on its own run ({run}) and "
        "reads the plan; it cannot claim, finish or change work. Use an agent key for that."
    )


async def call_tool(
    *, call: Caller, project: str, name: str, arguments: dict[str, Any], run: int | None = None
) -> types.CallToolResult:
    """Run one tool: its REST request, and the answer as JSON text or an error. With
    `run` (a run key's), a tool's `run_id` left out is that run."""
    if name not in TOOLS_BY_NAME:
        return _text(f"Unknown tool {name!r}.", error=True)
    takes_run = RUN_ID_ARGUMENT in TOOLS_BY_NAME[name].properties
    if run is not None and takes_run and arguments.get(RUN_ID_ARGUMENT) in (None, ""):
        arguments = {**arguments, RUN_ID_ARGUMENT: run}
    try:
        status, data = await call(tool_rest_call(project=project, name=name, arguments=arguments))
    except ValueError as exc:
        return _text(str(exc), error=True)
    except Exception as exc:  # any failure is the tool's error, never the server's end
        logger.exception("MCP tool %s failed", name)
        return _text(f"{name} failed: {type(exc).__name__}: {exc}", error=True)
    if status >= 400:
        return _text(error_text(status, data), error=True)
    if status == 204 or data in (None, ""):
        return _text(EMPTY_ANSWERS.get(name, "Done."))
    return _text(json.dumps(data, ensure_ascii=False))


def build_server(
    *, call: Caller, project: str, profile: str, run: int | None = None
) -> Server[Any]:
    """An MCP server with the `profile`'s tools; raises ValueError for an unknown profile.

    With `run`, the server speaks for that run's run key: it lists only the tools the
    REST API lets a run key call, and answers a call of any other with a tool error
    saying why (the REST API would refuse it with a 403 anyway).
    """
    run_key = run is not None
    definitions = [
        types.Tool(name=d["name"], description=d["description"], input_schema=d["inputSchema"])
        for d in tool_definitions(profile, run_key=run_key)
    ]
    in_profile = {tool.name for tool in tools_for(profile)}
    offered = {tool.name for tool in tools_for(profile, run_key=run_key)}

    async def on_list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=definitions)

    async def on_call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        if params.name not in in_profile:
            return _text(
                f"Tool {params.name!r} is not in the {profile!r} profile (CREWBOARD_MCP_TOOLS).",
                error=True,
            )
        if run is not None and params.name not in offered:
            return _text(run_key_refusal(params.name, run), error=True)
        return await call_tool(
            call=call,
            project=project,
            name=params.name,
            arguments=params.arguments or {},
            run=run,
        )

    async def on_list_resources(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return types.ListResourcesResult(
            resources=[
                types.Resource(
                    name="plan",
                    uri=PLAN_URI,
                    description="The working plan as Markdown.",
                    mime_type="text/markdown",
                )
            ]
        )

    async def on_list_resource_templates(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(
            resource_templates=[
                types.ResourceTemplate(
                    name="task",
                    uri_template=TASK_URI_PREFIX + "{key}",
                    description="One task as Markdown.",
                    mime_type="text/markdown",
                )
            ]
        )

    async def on_read_resource(
        ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        if uri == PLAN_URI:
            status, data = await call(RestCall("GET", project_path(project, "agent/plan/")))
            text = data.get("markdown", "") if status == 200 and isinstance(data, dict) else ""
        elif uri.startswith(TASK_URI_PREFIX):
            key = quote(uri.removeprefix(TASK_URI_PREFIX), safe="")
            status, data = await call(RestCall("GET", project_path(project, f"agent/tasks/{key}/")))
            text = task_markdown(data) if status == 200 and isinstance(data, dict) else ""
        else:
            raise ValueError(f"Unknown resource {uri}.")
        if status != 200:
            raise ValueError(f"{uri}: {error_text(status, data)}")
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, mime_type="text/markdown", text=text)]
        )

    return Server(
        "crewboard",
        instructions=INSTRUCTIONS if run is None else RUN_KEY_INSTRUCTIONS.format(run=run),
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
        on_list_resources=on_list_resources,
        on_list_resource_templates=on_list_resource_templates,
        on_read_resource=on_read_resource,
    )
