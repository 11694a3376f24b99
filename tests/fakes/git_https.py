"""A loopback HTTPS server for git's dumb HTTP protocol, with a self-signed certificate.

git trusts it through GIT_SSL_CAINFO, which the caller sets to `server.ca_file`. With
`hang=True` it accepts connections and never answers, to test timeouts.
"""

import functools
import shutil
import ssl
import subprocess
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
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
        handler = functools.partial(_Hanging if hang else _Quiet, directory=str(root))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"
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


def publish(repo: Path, root: Path, name: str) -> Path:
    """A bare copy of `repo` under `root`, ready for dumb HTTP."""
    bare = root / name
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True, timeout=60)
    subprocess.run(["git", "update-server-info"], cwd=bare, check=True, timeout=60)
    return bare
