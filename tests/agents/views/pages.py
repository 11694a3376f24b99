"""Requests to the agent pages as a browser or htmx sends them, and what they answer."""

from django.http import HttpResponse
from django.urls import reverse

from planning.models import Project

HTMX = {"HTTP_HX_REQUEST": "true"}
POLLING = 'hx-trigger="every 2s"'


def url(name: str, project: Project, *args: object) -> str:
    return reverse(f"agents:{name}", args=[project.slug, *args])


def messages_of(response: HttpResponse) -> list[str]:
    return [str(m) for m in response.context["messages"]]
