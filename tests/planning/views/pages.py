"""Requests to the plan pages of the `crewboard` project, and the messages they show."""

import re

from django.urls import reverse

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name: str, *args: object) -> str:
    return reverse(f"planning:{name}", args=["crewboard", *args])


def page_messages(html: str) -> list[str]:
    return re.findall(r'<li class="message[^"]*">(.*?)</li>', html, re.S)
