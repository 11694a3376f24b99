"""The HTMX request type and the rules every page uses for fragments and redirects."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


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
