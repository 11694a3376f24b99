"""MCP over Streamable HTTP at `/mcp/`, with an agent key (or a coding CLI's run key) as
the bearer token.

Each POST is served whole by the MCP SDK's stateless transport in JSON-response mode, on
an event loop of its own (gunicorn's workers are synchronous). Every tool call is sent
to the REST view it maps to, in this process and on this request's thread and database
connection, so MCP answers are the REST answers, checks and all.

A request that is one call of a read-only tool (`next_task`, `get_task`, ...) has its
REST call made first, on the request's thread, and the event loop then runs on that
same thread and only frames the answer: no hand-over between threads, which on a busy
machine costs more than the rest of the MCP layer. Anything else (writes, resources,
batches) runs its REST calls from the loop's thread, handed back to the request's.
"""

import io
import json
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import unquote, urlencode

import anyio
from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import resolve
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from agents.auth import RUN_KEY_REFUSED, agent_for_key, run_for_key
from agents.keys import RUN_KEY_PREFIX
from agents.models import Agent
from cli.mcp_server import build_server, tool_rest_call
from cli.mcp_tools import PROFILES, TOOLS_BY_NAME, RestCall

API_PREFIX = "/api/v1/"
# The request headers the in-process REST call keeps from the MCP request.
FORWARDED_META = ("SERVER_NAME", "SERVER_PORT", "HTTP_HOST", "wsgi.url_scheme", "REMOTE_ADDR")


def _refused(status: int, message: str) -> JsonResponse:
    # A JSON-RPC error without an id: what MCP clients show for a refused connection.
    response = JsonResponse(
        {"jsonrpc": "2.0", "id": None, "error": {"code": -32001, "message": message}},
        status=status,
    )
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="crewboard"'
    return response


def rest_dispatch(*, outer: HttpRequest, key: str, call: RestCall) -> tuple[int, Any]:
    """Run one REST request through its view, as the agent `key` belongs to."""
    if not call.path.startswith(API_PREFIX):
        raise ValueError(f"{call.path} is not an API path.")
    body = json.dumps(call.body).encode() if call.body is not None else b""
    # WSGI hands views the decoded path: a key such as `ui:12` arrives as itself.
    path = unquote(call.path)
    environ = {key_: outer.META[key_] for key_ in FORWARDED_META if key_ in outer.META}
    environ.update(
        {
            "REQUEST_METHOD": call.method,
            "PATH_INFO": path,
            "SCRIPT_NAME": "",
            "QUERY_STRING": urlencode(call.query),
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_ACCEPT": "application/json",
            "HTTP_AUTHORIZATION": f"Agent {key}",
            "wsgi.input": io.BytesIO(body),
        }
    )
    match = resolve(path)
    response = match.func(WSGIRequest(environ), *match.args, **match.kwargs)
    render = getattr(response, "render", None)
    if callable(render):
        render()
    if not response.content:
        return response.status_code, None
    try:
        return response.status_code, json.loads(response.content)
    except ValueError:
        return response.status_code, response.content.decode(errors="replace")


# An MCP request is one REST call or a few; this bounds one that never answers.
REQUEST_TIMEOUT_S = 60
_TIMED_OUT = json.dumps(
    {"jsonrpc": "2.0", "id": None, "error": {"code": -32000, "message": "Timed out."}}
).encode()


async def _serve_one(
    server: Server[Any], scope: dict[str, Any], body: bytes
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    manager = StreamableHTTPSessionManager(app=server, stateless=True, json_response=True)
    answer: dict[str, Any] = {"status": 500, "headers": [], "body": bytearray()}
    delivered = False
    answered = anyio.Event()

    async def receive() -> MutableMapping[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        # The client stays until the answer has gone out, then leaves, as it would from a
        # real server: the transport's tasks that wait on a disconnect end with it.
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")
            if not message.get("more_body", False):
                answered.set()

    # Nothing outlives the request: once it is answered (or after REQUEST_TIMEOUT_S),
    # whatever the stateless server still waits on is cancelled, not awaited, so no
    # worker thread (and no event loop) is left behind.
    with anyio.move_on_after(REQUEST_TIMEOUT_S) as scope_of_request:
        async with manager.run():
            await manager.handle_request(scope, receive, send)
            scope_of_request.cancel()
    if not answered.is_set():
        return 504, [(b"content-type", b"application/json")], _TIMED_OUT
    return answer["status"], answer["headers"], bytes(answer["body"])


def read_only_call(
    body: bytes, *, project: str, profile: str, run_key: bool = False
) -> RestCall | None:
    """The REST call of a request that is one `tools/call` of a read-only (GET) tool of
    `profile` (and, for a run key, one it may call); None for any other request. Making
    it early changes nothing, whatever the SDK then makes of the request."""
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("method") != "tools/call":
        return None
    params = message.get("params")
    if not isinstance(params, dict) or not isinstance(params.get("arguments") or {}, dict):
        return None
    tool = TOOLS_BY_NAME.get(str(params.get("name")))
    if tool is None or tool.method != "GET" or not tool.in_profile(profile):
        return None
    if run_key and not tool.run_key:
        return None
    try:
        return tool_rest_call(
            project=project, name=tool.name, arguments=params.get("arguments") or {}
        )
    except ValueError:
        return None


def _scope(request: HttpRequest) -> dict[str, Any]:
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in request.headers.items()
    ]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": request.scheme,
        "path": request.path,
        "raw_path": request.path.encode(),
        "root_path": "",
        "query_string": request.META.get("QUERY_STRING", "").encode("latin-1"),
        "headers": headers,
        "server": (request.get_host().split(":")[0], int(request.get_port())),
        "client": (request.META.get("REMOTE_ADDR", ""), 0),
    }


@method_decorator(csrf_exempt, name="dispatch")
class McpView(View):
    """The Streamable HTTP endpoint: POST JSON-RPC; GET and DELETE are 405 (stateless).

    A run key (`cbr_…`) gets the tools the REST API lets it call, for its own run, and
    is refused (401) once its run has ended, as the REST API refuses it.
    """

    http_method_names = ["get", "post", "delete"]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return _refused(401, "Send the agent key as `Authorization: Bearer <key>`.")
        run: int | None = None
        if key.startswith(RUN_KEY_PREFIX):
            running = run_for_key(key)
            if running is None:
                return _refused(401, RUN_KEY_REFUSED)
            agent, run = running.agent, running.pk
        else:
            found = agent_for_key(key)
            if found is None:
                return _refused(401, "Invalid agent key.")
            agent = found
        if agent.status == Agent.Status.TERMINATED:
            return _refused(403, f"Agent {agent.name} is terminated.")
        if request.method == "GET":
            # Stateless: there is no stream for the server to push on (the transport's
            # spec allows a 405 here), and holding a GET open would hold a worker.
            response = _refused(405, "This server sends no stream: POST JSON-RPC requests.")
            response["Allow"] = "POST, DELETE"
            return response
        profile = request.GET.get("tools") or settings.MCP_TOOLS
        if profile not in PROFILES:
            return _refused(400, f"tools must be one of {', '.join(PROFILES)}.")
        return self.serve(request, key=key, project=agent.project.slug, profile=profile, run=run)

    def serve(
        self, request: HttpRequest, *, key: str, project: str, profile: str, run: int | None
    ) -> HttpResponse:
        early = read_only_call(
            request.body, project=project, profile=profile, run_key=run is not None
        )
        if early is not None:
            answer = rest_dispatch(outer=request, key=key, call=early)

            async def call(rest_call: RestCall) -> tuple[int, Any]:
                if rest_call != early:
                    raise RuntimeError(f"{rest_call.path} was not made before the request.")
                return answer

            server = build_server(call=call, project=project, profile=profile, run=run)
            # This thread runs no event loop (gunicorn's sync workers; Django's thread
            # for sync views under ASGI), so the loop can run here.
            status, headers, body = anyio.run(_serve_one, server, _scope(request), request.body)
        else:
            dispatch = sync_to_async(rest_dispatch, thread_sensitive=True)

            async def call(rest_call: RestCall) -> tuple[int, Any]:
                return await dispatch(outer=request, key=key, call=rest_call)

            server = build_server(call=call, project=project, profile=profile, run=run)
            status, headers, body = async_to_sync(_serve_one)(server, _scope(request), request.body)
        response = HttpResponse(body, status=status)
        for name, value in headers:
            if name.lower() != b"content-length":
                response[name.decode("latin-1")] = value.decode("latin-1")
        return response
