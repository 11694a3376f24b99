"""GitHub's REST API, as much of it as opening a pull request takes. Imports no app.

Callers pass the API's URL and the token in: reading settings is the caller's business.
Every failure is a GitHubError whose message carries what GitHub said, and never the
token, so it can be shown on a page or written to a run's log as it is.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx2

GITHUB_WEB_HOSTS = ("github.com",)
API_TIMEOUT_S = 30.0
# The REST API version these calls were written against; GitHub keeps answering it the
# same way after newer versions ship.
_API_VERSION = "2022-11-28"
# GitHub's own rules: an owner is letters, digits and single hyphens; a repository name
# also allows dots and underscores ("." and ".." are refused below).
_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
# git's short ssh form: [user@]host:owner/name — a colon before any slash.
_SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?(?P<host>[^@/:]+):(?P<path>[^/].*)$")
_ALREADY_EXISTS = "a pull request already exists"


class GitHubError(Exception):
    """GitHub refused a request or could not be reached; the message says which and why.

    `status` is GitHub's HTTP status (None when no answer came); `retryable` is True when
    the same request may well succeed later (no answer, a timeout, 429, a 5xx).
    """

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable


@dataclass(frozen=True)
class GitHubRepository:
    """A repository on a GitHub host: `host` is the web host (with a port, if it has one)."""

    host: str
    owner: str
    name: str

    @property
    def https_url(self) -> str:
        """Where git pushes to with a token, whatever form the project's URL had."""
        return f"https://{self.host}/{self.owner}/{self.name}.git"

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str  # the page a person opens (html_url), not the API's


def github_repository(
    url: str, *, hosts: Collection[str] = GITHUB_WEB_HOSTS
) -> GitHubRepository | None:
    """The GitHub repository `url` names, or None when it is not one on `hosts`.

    Understands https://host/owner/name(.git), git@host:owner/name(.git) and
    ssh://git@host[:port]/owner/name(.git). An https URL matches a host entry by host and
    port (a loopback stand-in has one); the ssh forms by host name alone, since their port
    is ssh's, not the web's.
    """
    url = url.strip()
    known = {host.strip().lower() for host in hosts if host.strip()}
    scp = _SCP_LIKE.match(url) if "://" not in url else None
    if scp:
        host, path = scp["host"].lower(), scp["path"]
        web_host = next((h for h in known if h.split(":")[0] == host), None)
    else:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return None
        host, path = (parts.hostname or "").lower(), parts.path
        if parts.scheme == "https":
            netloc = f"{host}:{port}" if port not in (None, 443) else host
            web_host = netloc if netloc in known else None
        elif parts.scheme == "ssh":
            web_host = next((h for h in known if h.split(":")[0] == host), None)
        else:
            return None
        if parts.query or parts.fragment:
            return None
    if web_host is None:
        return None
    segments = path.strip("/").removesuffix(".git").split("/")
    if len(segments) != 2:
        return None
    owner, name = segments
    if not _OWNER.match(owner) or not _NAME.match(name) or name in (".", ".."):
        return None
    return GitHubRepository(host=web_host, owner=owner, name=name)


def pull_request_open(
    *,
    api_url: str,
    token: str,
    owner: str,
    repo: str,
    head: str,
    base: str,
    title: str,
    body: str,
    timeout_s: float = API_TIMEOUT_S,
) -> PullRequest:
    """Open a pull request of branch `head` into `base`, or return the open one that
    already exists for them, so a retried step never opens a second.

    Raises GitHubError (401: the token is refused; 403: it may not do this; 404: no such
    repository that the token can see; 422: GitHub refused the pull request; no answer).
    """
    if not token:
        raise GitHubError("no GitHub token is configured")
    payload = {"title": title, "head": head, "base": base, "body": body}
    with _client(api_url, token, timeout_s) as client:
        answer = _send(client, "POST", _pulls_path(owner, repo), token=token, json=payload)
        if answer.status_code == 201:
            return _pull_request(_json(answer, token=token), token=token)
        if answer.status_code == 422 and _ALREADY_EXISTS in _reason(answer).lower():
            found = _open_pull_request(client, token=token, owner=owner, repo=repo, head=head,
                                       base=base)  # fmt: skip
            if found is not None:
                return found
            raise GitHubError(
                f"GitHub says a pull request of {head} into {base} already exists in "
                f"{owner}/{repo}, but lists no open one",
                status=422,
            )
        raise _refusal(answer, what=f"open a pull request in {owner}/{repo}", token=token)


def pull_request_find(
    *,
    api_url: str,
    token: str,
    owner: str,
    repo: str,
    head: str,
    base: str,
    timeout_s: float = API_TIMEOUT_S,
) -> PullRequest | None:
    """The open pull request of branch `head` into `base`, or None. Raises GitHubError."""
    with _client(api_url, token, timeout_s) as client:
        return _open_pull_request(client, token=token, owner=owner, repo=repo, head=head,
                                  base=base)  # fmt: skip


def _pulls_path(owner: str, repo: str) -> str:
    return f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}/pulls"


def _json(answer: httpx2.Response, *, token: str) -> Any:
    try:
        return answer.json()
    except ValueError:
        raise GitHubError(
            _scrub(f"GitHub answered HTTP {answer.status_code} with no JSON: "
                   f"{_short(answer.text)}", token),
            status=answer.status_code,
        ) from None  # fmt: skip


def _client(api_url: str, token: str, timeout_s: float) -> httpx2.Client:
    return httpx2.Client(
        base_url=api_url,
        timeout=timeout_s,
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": _API_VERSION,
            "User-Agent": "crewboard",
        },
    )


def _open_pull_request(
    client: httpx2.Client, *, token: str, owner: str, repo: str, head: str, base: str
) -> PullRequest | None:
    # The list filters by "owner:branch"; a head from a fork already carries its owner.
    label = head if ":" in head else f"{owner}:{head}"
    answer = _send(client, "GET", _pulls_path(owner, repo), token=token,
                   params={"head": label, "base": base, "state": "open"})  # fmt: skip
    if answer.status_code != 200:
        raise _refusal(answer, what=f"list the pull requests of {owner}/{repo}", token=token)
    listed = _json(answer, token=token)
    if not isinstance(listed, list):
        raise GitHubError(f"GitHub answered the list of pull requests with {_short(listed)}")
    return _pull_request(listed[0], token=token) if listed else None


def _send(
    client: httpx2.Client, method: str, path: str, *, token: str, **kwargs: Any
) -> httpx2.Response:
    try:
        return client.request(method, path, **kwargs)
    except httpx2.TimeoutException as exc:
        raise GitHubError(
            _scrub(f"GitHub at {client.base_url} did not answer in time ({exc})", token),
            retryable=True,
        ) from None
    except httpx2.HTTPError as exc:
        raise GitHubError(
            _scrub(f"could not reach GitHub at {client.base_url}: {exc}", token),
            retryable=True,
        ) from None


def _pull_request(data: Any, *, token: str) -> PullRequest:
    if (
        isinstance(data, dict)
        and isinstance(data.get("number"), int)
        and isinstance(data.get("html_url"), str)
    ):
        return PullRequest(number=data["number"], url=data["html_url"])
    raise GitHubError(_scrub(f"GitHub answered with no pull request: {_short(data)}", token))


def _refusal(answer: httpx2.Response, *, what: str, token: str) -> GitHubError:
    status = answer.status_code
    reason = _reason(answer)
    why = {
        401: "GitHub refused the token",
        403: f"the token may not {what}",
        404: f"could not {what}: GitHub shows no such repository to this token",
        422: f"GitHub refused to {what}",
    }.get(status, f"could not {what}")
    return GitHubError(
        _scrub(f"{why}: {reason} (HTTP {status})", token),
        status=status,
        retryable=status == 429 or status >= 500,
    )


def _reason(answer: httpx2.Response) -> str:
    """GitHub's message, with the details of a validation failure after it."""
    try:
        data = answer.json()
    except ValueError:
        return _short(answer.text) or answer.reason_phrase
    if not isinstance(data, dict):
        return _short(data)
    parts = [str(data.get("message") or answer.reason_phrase)]
    for error in data.get("errors") or []:
        if isinstance(error, dict):
            text = error.get("message") or " ".join(
                str(error[key]) for key in ("field", "code") if error.get(key)
            )
            parts.append(str(text))
        else:
            parts.append(str(error))
    return ": ".join(part for part in parts if part)


def _short(value: Any, limit: int = 300) -> str:
    text = str(value).strip()
    return text if len(text) <= limit else text[:limit] + "…"


def _scrub(text: str, token: str) -> str:
    # Belt and braces: no message built here holds the token, but one quoting an answer
    # or an exception might, and these messages are shown to people.
    return text.replace(token, "***") if token else text
