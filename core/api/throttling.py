"""Throttles on the API's credentials: guessing tokens or agent keys, and issuing keys.

DRF's throttles run after authentication, so a request with a bad token never reaches
them: a client address that keeps failing is counted here, by the authentication
classes themselves, and refused for a while before its credentials are even looked up.
Counts live in Django's cache (Redis when REDIS_URL is set, shared by every process;
otherwise each process counts its own).
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle

FAILURE_KEY = "api-auth-failures:{address}"


def _address(request: Request) -> str:
    # The address the server sees: behind a proxy, the proxy's, unless the proxy sets
    # REMOTE_ADDR (gunicorn does with --forwarded-allow-ips).
    return str(request.META.get("REMOTE_ADDR", ""))


def refuse_while_failing(request: Request) -> None:
    """Raise Throttled (429) while the caller's address has failed to authenticate
    API_AUTH_FAILURE_LIMIT times within API_AUTH_FAILURE_WINDOW_S."""
    failures = cache.get(FAILURE_KEY.format(address=_address(request)), 0)
    if failures >= settings.API_AUTH_FAILURE_LIMIT:
        raise Throttled(
            wait=settings.API_AUTH_FAILURE_WINDOW_S,
            detail="Too many requests with invalid credentials from this address.",
        )


def record_failure(request: Request) -> None:
    """Count one failed authentication against the caller's address; the count expires
    API_AUTH_FAILURE_WINDOW_S after the first failure."""
    key = FAILURE_KEY.format(address=_address(request))
    cache.add(key, 0, timeout=settings.API_AUTH_FAILURE_WINDOW_S)
    try:
        cache.incr(key)
    except ValueError:  # expired between the two calls
        cache.add(key, 1, timeout=settings.API_AUTH_FAILURE_WINDOW_S)


class ThrottledTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`, refused with 429 from an address that keeps sending
    invalid tokens. A bad token is a 401, which names the scheme (WWW-Authenticate)."""

    def authenticate(self, request: Request) -> tuple[object, object] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        refuse_while_failing(request)
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            record_failure(request)
            raise


class SettingsRateThrottle(SimpleRateThrottle):
    """A throttle whose rate is a setting read per request (DRF reads its rates once)."""

    rate_setting = ""

    def get_rate(self) -> str | None:
        rate: str | None = getattr(settings, self.rate_setting)
        return rate


class AgentKeyIssueThrottle(SettingsRateThrottle, UserRateThrottle):
    """Issuing or revoking agent keys, per person: API_AGENT_KEY_RATE (e.g. "30/hour")."""

    scope = "agent-key"
    rate_setting = "API_AGENT_KEY_RATE"
