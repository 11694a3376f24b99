"""The HTMX request type and the rules every page uses for fragments and redirects."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


class AuthenticatedHtmxRequest(HtmxHttpRequest):
    """What a `@login_required` page receives: someone is signed in."""

    user: User


def wants_fragment(request: HtmxHttpRequest) -> bool:
    """True for an htmx request that swaps part of a page.

    Boosted navigation and history restores after a cache miss need the whole page.
    """
    htmx = request.htmx
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def redirect_or_client_redirect(request: HtmxHttpRequest, url: str) -> HttpResponse:
    """htmx requests need `HX-Redirect` for a whole-page load; plain posts get a 302."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)
