"""A real HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions protocol.

Tests script its replies in order and read back the requests it received:

    with FakeOpenAIServer() as server:
        server.script(rate_limited(retry_after_s=0.01), completion("Hello"))
        client = OpenAIClient(base_url=server.base_url, api_key="test")
        ...
        assert len(server.requests) == 2

Every reply is a `Reply`: a status, headers, a body and an optional delay before the
server answers. The helpers below build the usual ones. A request that finds the queue
empty gets a 400 naming the problem, which the SDK does not retry, so a test that
scripted too few replies fails with a readable error instead of hanging.
"""

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHAT_COMPLETIONS_PATH = "/v1/chat/completions"


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    content_type: str = "application/json"


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    raw_body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw_body)


def completion_body(
    content: str | None = "",
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    model: str = "fake-model",
    finish_reason: str | None = None,
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A chat.completion object; pass `usage=None` to leave usage out entirely."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    body: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason or ("tool_calls" if tool_calls else "stop"),
            }
        ],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def usage_body(prompt: int, completion: int, *, cached: int | None = None) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if cached is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    return usage


def tool_call(call_id: str, name: str, arguments: dict[str, Any] | str) -> dict[str, Any]:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


def json_reply(body: Any, *, status: int = 200, delay_s: float = 0.0) -> Reply:
    return Reply(status=status, body=json.dumps(body).encode(), delay_s=delay_s)


def completion(content: str | None = "", *, delay_s: float = 0.0, **fields: Any) -> Reply:
    """A 200 with a completion; `fields` go to `completion_body`. Usage defaults to 10 + 5."""
    fields.setdefault("usage", usage_body(10, 5))
    return json_reply(completion_body(content, **fields), delay_s=delay_s)


def error(status: int, message: str = "", *, retry_after_s: float | None = None) -> Reply:
    """An error reply with OpenAI's error envelope.

    With `retry_after_s` it sends both headers OpenAI sends: `Retry-After` in whole seconds
    and `retry-after-ms`. The SDK reads `Retry-After: 0` as "unspecified" and falls back to
    ~0.5 s of backoff, so the millisecond header is what keeps retry tests fast.
    """
    headers = {}
    if retry_after_s is not None:
        headers["Retry-After"] = str(int(retry_after_s))
        headers["retry-after-ms"] = str(round(retry_after_s * 1000))
    body = {"error": {"message": message or f"fake error {status}", "type": "fake", "code": None}}
    return Reply(status=status, body=json.dumps(body).encode(), headers=headers)


def rate_limited(*, retry_after_s: float = 0.01) -> Reply:
    return error(429, "Rate limit reached", retry_after_s=retry_after_s)


def malformed(text: str = '{"id": "chatcmpl-broken", "choices": [', **kwargs: Any) -> Reply:
    """A 200 whose body is not what it claims to be (by default, truncated JSON)."""
    return Reply(status=200, body=text.encode(), **kwargs)


class FakeOpenAIServer:
    """An OpenAI-compatible endpoint on an ephemeral port, served from a background thread."""

    # The POST paths served; a subclass serving another API names its own.
    paths: tuple[str, ...] = (CHAT_COMPLETIONS_PATH,)

    def __init__(self, responder: Callable[[RecordedRequest], Reply] | None = None) -> None:
        """`responder`, when given, answers every request the script has no reply left for
        (for many concurrent conversations, whose order no script can foresee)."""
        self.requests: list[RecordedRequest] = []
        self._responder = responder
        self._replies: list[Reply] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        # A short poll interval, because shutdown() waits for the serving loop's next poll.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="fake-openai-server",
            daemon=True,
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    @property
    def pending(self) -> int:
        """Scripted replies not yet served."""
        with self._lock:
            return len(self._replies)

    def start(self) -> "FakeOpenAIServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        # Wake handlers sleeping on a delayed reply so their threads end with the test.
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "FakeOpenAIServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            if request.method != "POST" or request.path not in self.paths:
                return error(404, f"fake OpenAI server: no route for {request.path}")
            if not self._replies and self._responder is not None:
                return self._responder(request)
            if not self._replies:
                return error(
                    400, f"fake OpenAI server: no scripted reply left for request {request.path}"
                )
            return self._replies.pop(0)


def _handler_for(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle's algorithm the second waits
        # for the client's delayed ACK, about 40 ms a request on Linux.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            self._serve()

        def do_GET(self) -> None:
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            request = RecordedRequest(
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                raw_body=raw,
            )
            reply = server._next_reply(request)
            if reply.delay_s and server._stopping.wait(reply.delay_s):
                self.close_connection = True
                return
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up (a timeout test); nobody is left to answer.
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
