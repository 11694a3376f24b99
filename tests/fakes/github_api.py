"""A real HTTP server on 127.0.0.1 that answers the part of GitHub's REST API Crewboard
uses: opening and listing a repository's pull requests.

    with FakeGitHubApi(token="t0ken") as api:
        api.add_repository("octo", "app")
        pull_request_open(api_url=api.base_url, token="t0ken", owner="octo", repo="app", ...)
        assert api.pulls[0]["head"]["ref"] == "crewboard/T1-1"

It answers as GitHub does: 401 "Bad credentials" without the right Bearer token, 404 for
a repository it does not hold, 201 with the new pull request, and 422 "A pull request
already exists" for a second one of the same head and base. With `git_root` (the folder
a SmartGitHttpsServer serves), a pull request whose branches are not in the served
repository `<owner>/<name>.git` is refused with a 422, as GitHub refuses one whose
branch was never pushed. `refuse(status, message)` makes the next request fail.
"""

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.openai_server import RecordedRequest


class FakeGitHubApi:
    def __init__(
        self,
        *,
        token: str,
        web_url: str = "https://github.com",
        git_root: Path | None = None,
    ) -> None:
        self.token = token
        self.web_url = web_url
        self.git_root = git_root
        self.requests: list[RecordedRequest] = []
        self.pulls: list[dict[str, Any]] = []
        self._repositories: set[tuple[str, str]] = set()
        self._refusals: list[tuple[int, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        # A short poll interval, because shutdown() waits for the serving loop's next poll.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="fake-github-api",
            daemon=True,
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def add_repository(self, owner: str, name: str) -> None:
        with self._lock:
            self._repositories.add((owner, name))

    def refuse(self, status: int, message: str) -> None:
        """The next request gets `status` with GitHub's error body carrying `message`."""
        with self._lock:
            self._refusals.append((status, {"message": message}))

    def start(self) -> "FakeGitHubApi":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "FakeGitHubApi":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def answer(self, request: RecordedRequest) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(request)
            if self._refusals:
                return self._refusals.pop(0)
            authorization = request.headers.get("authorization", "")
            if authorization not in (f"Bearer {self.token}", f"token {self.token}"):
                return 401, _error("Bad credentials")
            url = urlsplit(request.path)
            parts = url.path.strip("/").split("/")
            if len(parts) != 4 or parts[0] != "repos" or parts[3] != "pulls":
                return 404, _error("Not Found")
            owner, name = parts[1], parts[2]
            if (owner, name) not in self._repositories:
                return 404, _error("Not Found")
            if request.method == "GET":
                return 200, self._listed(owner, name, parse_qs(url.query))
            if request.method == "POST":
                return self._opened(owner, name, request.json)
            return 404, _error("Not Found")

    def _listed(self, owner: str, name: str, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        head = query.get("head", [""])[0]
        base = query.get("base", [""])[0]
        state = query.get("state", ["open"])[0]
        return [
            pull
            for pull in self.pulls
            if pull["base"]["repo"]["full_name"] == f"{owner}/{name}"
            and (not head or pull["head"]["label"] == head)
            and (not base or pull["base"]["ref"] == base)
            and (state == "all" or pull["state"] == state)
        ]

    def _opened(self, owner: str, name: str, data: Any) -> tuple[int, Any]:
        if not isinstance(data, dict) or not all(
            isinstance(data.get(key), str) and data[key] for key in ("title", "head", "base")
        ):
            return 422, _error("Validation Failed", {"resource": "PullRequest", "code": "missing"})
        head, base = data["head"], data["base"]
        label = head if ":" in head else f"{owner}:{head}"
        for field, branch in (("base", base), ("head", head)):
            if not self._branch_served(owner, name, branch):
                return 422, _error(
                    "Validation Failed",
                    {"resource": "PullRequest", "field": field, "code": "invalid"},
                )
        if self._listed(owner, name, {"head": [label], "base": [base]}):
            return 422, _error(
                "Validation Failed",
                {
                    "resource": "PullRequest",
                    "code": "custom",
                    "message": f"A pull request already exists for {label}.",
                },
            )
        number = len(self.pulls) + 1
        pull = {
            "number": number,
            "html_url": f"{self.web_url}/{owner}/{name}/pull/{number}",
            "state": "open",
            "title": data["title"],
            "body": data.get("body"),
            "head": {"ref": head, "label": label},
            "base": {"ref": base, "repo": {"full_name": f"{owner}/{name}"}},
        }
        self.pulls.append(pull)
        return 201, pull

    def _branch_served(self, owner: str, name: str, branch: str) -> bool:
        if self.git_root is None:
            return True
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
            cwd=self.git_root / owner / f"{name}.git",
            capture_output=True,
            timeout=60,
        )
        return done.returncode == 0


def _error(message: str, *errors: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
    }
    if errors:
        body["errors"] = list(errors)
    return body


def _handler_for(server: FakeGitHubApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle's algorithm the second waits
        # for the client's delayed ACK, about 40 ms a request on Linux.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = RecordedRequest(
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                raw_body=self.rfile.read(length) if length else b"",
            )
            status, body = server.answer(request)
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
