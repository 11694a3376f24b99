"""Loopback HTTPS servers for git, with a self-signed certificate.

`GitHttpsServer` serves git's dumb HTTP protocol (clones only); with `hang=True` it
accepts connections and never answers, to test timeouts. `SmartGitHttpsServer` runs
git's own `git http-backend`, so `git push` works too, and with a `token` it wants
GitHub's kind of credentials (HTTP Basic, the token as the password) on every request.
git trusts either through GIT_SSL_CAINFO, which the caller sets to `server.ca_file`.
"""

import base64
import functools
import os
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Hanging(_Quiet):
    def do_GET(self) -> None:
        time.sleep(30)


class GitHttpsServer:
    def __init__(self, root: Path, workdir: Path, *, hang: bool = False) -> None:
        handler = functools.partial(_Hanging if hang else _Quiet, directory=str(root))
        self._serve(handler, workdir)

    def _serve(self, handler: Callable[..., BaseHTTPRequestHandler], workdir: Path) -> None:
        if shutil.which("openssl") is None:
            raise RuntimeError("openssl not installed")
        self.ca_file = workdir / "cert.pem"
        key = workdir / "key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(key), "-out", str(self.ca_file)],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"
        self.host = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "GitHttpsServer":
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True)
class GitRequest:
    method: str
    path: str
    authorization: str


class SmartGitHttpsServer(GitHttpsServer):
    """git's smart HTTP protocol over TLS on loopback, served by `git http-backend`.

    Every repository under `root` is served and accepts pushes. With `token`, a request
    without `Authorization: Basic <user:token>` gets a 401, as GitHub answers.
    `requests` records each request (the Authorization header too, for tests that check
    what was sent).
    """

    def __init__(self, root: Path, workdir: Path, *, token: str | None = None) -> None:
        self.root = root
        self.token = token
        self.requests: list[GitRequest] = []
        self._serve(_backend_handler(self), workdir)


def _backend_handler(server: SmartGitHttpsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._cgi()

        def do_POST(self) -> None:
            self._cgi()

        def _cgi(self) -> None:
            authorization = self.headers.get("Authorization", "")
            server.requests.append(GitRequest(self.command, self.path, authorization))
            if server.token is not None and not self._authorized(authorization):
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="fake GitHub"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else self._chunked_body()
            env = {
                "PATH": os.environ["PATH"],
                "GIT_PROJECT_ROOT": str(server.root),
                "GIT_HTTP_EXPORT_ALL": "1",
                # http-backend takes pushes only from a user the web server vouched for.
                "REMOTE_USER": "fake",
                "REMOTE_ADDR": "127.0.0.1",
                "REQUEST_METHOD": self.command,
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            }
            done = subprocess.run(
                ["git", "http-backend"], input=body, env=env, capture_output=True, timeout=60
            )
            # A CGI's answer: its headers, a blank line, the body.
            head, sep, payload = done.stdout.partition(b"\r\n\r\n")
            if not sep:
                head, sep, payload = done.stdout.partition(b"\n\n")
            headers = [line.split(":", 1) for line in head.decode().splitlines() if ":" in line]
            status = next((int(v.split()[0]) for k, v in headers if k.lower() == "status"), 200)
            self.send_response(status)
            for name, value in headers:
                if name.lower() != "status":
                    self.send_header(name, value.strip())
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _authorized(self, authorization: str) -> bool:
            scheme, _, encoded = authorization.partition(" ")
            if scheme.lower() != "basic":
                return False
            try:
                _user, _, password = base64.b64decode(encoded).decode().partition(":")
            except ValueError:
                return False
            return password == server.token

        def _chunked_body(self) -> bytes:
            # git sends a pack bigger than its http.postBuffer in chunks.
            if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                return b""
            body = b""
            while size := int(self.rfile.readline().strip() or b"0", 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
            return body

    return Handler


def publish(repo: Path, root: Path, name: str) -> Path:
    """A bare copy of `repo` under `root`, ready for dumb HTTP."""
    bare = root / name
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True, timeout=60)
    subprocess.run(["git", "update-server-info"], cwd=bare, check=True, timeout=60)
    return bare
