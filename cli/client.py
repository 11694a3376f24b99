"""The CLI's one way to the server: REST calls over httpx, every failure a one-line CliError."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cli.errors import CliError, UsageError

if TYPE_CHECKING:
    import httpx2

TIMEOUT_S = 30.0
API_PREFIX = "/api/v1/"
# What DRF says when it cannot tell who is calling (as opposed to a caller not allowed).
REFUSED_CREDENTIALS = {
    "Authentication credentials were not provided.",
    "Invalid token.",
    "User inactive or deleted.",
    "Invalid token header. No credentials provided.",
    "Invalid token header. Token string should not contain spaces.",
    "Invalid token header. Token string should not contain invalid characters.",
}


def normalized_url(url: str) -> str:
    """The server's base URL, checked: http(s), a host, no API path (it is added per call).

    Raises UsageError for anything that is not an http(s) URL with a host."""
    url = url.strip().rstrip("/")
    if url.endswith(API_PREFIX.rstrip("/")):
        url = url[: -len(API_PREFIX.rstrip("/"))]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"{url or '(empty)'} is not a server URL; give one like http://127.0.0.1:8000."
        )
    return url


class Api:
    """Calls to one Crewboard as a person (a token) or as an external agent (its key)."""

    def __init__(
        self, url: str, *, token: str = "", agent_key: str = "", timeout_s: float = TIMEOUT_S
    ) -> None:
        if not url:
            raise UsageError("No server: run `crewboard login URL`, or set CREWBOARD_URL.")
        self.url = normalized_url(url)
        self.agent_key = agent_key
        self.timeout_s = timeout_s
        self.headers = {"Accept": "application/json"}
        if agent_key:
            self.headers["Authorization"] = f"Agent {agent_key}"
        elif token:
            self.headers["Authorization"] = f"Token {token}"

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        files: Mapping[str, tuple[str, IO[bytes]]] | None = None,
        data: Mapping[str, str] | None = None,
        not_found: str = "",
        accept: tuple[int, ...] = (),
        timeout_s: float | None = None,
    ) -> httpx2.Response:
        """One API call. `path` is relative to /api/v1/. Answers 2xx are returned as they
        are, and so are those in `accept`; anything else raises CliError with the server's
        reason (`not_found` for 404). `timeout_s` overrides the client's for a slow call."""
        import httpx2

        target = f"{self.url}{API_PREFIX}{path.lstrip('/')}"
        try:
            answer = httpx2.request(
                method,
                target,
                json=body,
                params=params,
                files=files,
                data=data,
                headers=self.headers,
                timeout=timeout_s or self.timeout_s,
                # Plain http has no certificates to check; loading the CA bundle anyway
                # would cost every command a noticeable part of its start-up.
                verify=self.url.startswith("https://"),
            )
        except httpx2.TimeoutException:
            raise CliError(
                f"Crewboard at {self.url} did not answer within {timeout_s or self.timeout_s:g} s."
            ) from None
        except httpx2.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise CliError(f"Cannot reach Crewboard at {self.url}: {reason}.") from None
        if answer.is_success or answer.status_code in accept:
            return answer
        raise CliError(self._failure(answer, not_found=not_found), status=answer.status_code)

    def json(self, method: str, path: str, **options: Any) -> Any:
        """An API call whose answer is JSON (None for 204 No Content)."""
        answer = self.request(method, path, **options)
        if answer.status_code == 204:
            return None
        return self.decoded(answer)

    def decoded(self, answer: httpx2.Response) -> Any:
        try:
            return answer.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise CliError(
                f"{self.url} answered, but not as Crewboard's API does (no JSON); check the URL."
            ) from None

    def _failure(self, answer: httpx2.Response, *, not_found: str) -> str:
        status = answer.status_code
        # DRF answers a refused token 403 when session login comes first in its list.
        if status == 401 or (status == 403 and _reason(answer) in REFUSED_CREDENTIALS):
            if self.agent_key:
                return "The agent key was refused (401): check --agent-key or CREWBOARD_AGENT_KEY."
            if "Authorization" in self.headers:
                return (
                    f"The token was refused by {self.url} (401): "
                    f"run `crewboard login {self.url}` again."
                )
            return f"Not logged in to {self.url}: run `crewboard login {self.url}`."
        if status == 404 and not_found:
            return not_found
        reason = _reason(answer)
        if status >= 500:
            return f"Crewboard at {self.url} failed ({status}){': ' + reason if reason else '.'}"
        if status == 404 and not reason.strip(". "):
            reason = "not found"
        return f"{reason or answer.reason_phrase} ({status})"


def _reason(answer: httpx2.Response) -> str:
    """The server's error body in one line: `detail`, or each field's first message."""
    try:
        body = answer.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""
    if isinstance(body, dict):
        if isinstance(body.get("detail"), str) and len(body) <= 3:
            return str(body["detail"])
        parts = []
        for field, messages in body.items():
            text = messages[0] if isinstance(messages, list) and messages else messages
            if isinstance(text, dict | list):
                text = json.dumps(text)
            label = "" if field in ("detail", "non_field_errors") else f"{field}: "
            parts.append(f"{label}{text}")
        return "; ".join(parts)
    if isinstance(body, list) and body:
        return "; ".join(str(item) for item in body)
    return ""
