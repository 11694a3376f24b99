import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django_htmx.middleware import HtmxMiddleware

from core.htmx import redirect_or_client_redirect

NEXT = "/planning/projects/crewboard/?tab=plan"


def post_through_middleware(**headers: str) -> HttpResponse:
    """A real POST, given its `htmx` details by the middleware as in a request cycle."""

    def view(request: HttpRequest) -> HttpResponse:
        return redirect_or_client_redirect(request, NEXT)

    return HtmxMiddleware(view)(RequestFactory().post("/somewhere/", headers=headers))


def test_a_plain_post_gets_a_302():
    response = post_through_middleware()

    assert response.status_code == 302
    assert response["Location"] == NEXT
    assert "HX-Redirect" not in response


@pytest.mark.parametrize("boosted", [{}, {"HX-Boosted": "true"}])
def test_an_htmx_request_gets_hx_redirect_instead_of_a_302(boosted):
    response = post_through_middleware(**{"HX-Request": "true", **boosted})

    assert response.status_code == 200
    assert response["HX-Redirect"] == NEXT
    assert "Location" not in response
