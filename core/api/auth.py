"""Who is calling a person's API endpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def request_user(request: Request) -> User:
    """The signed-in person making `request`, to record as the actor of a change.

    Raises NotAuthenticated for an anonymous caller, which the default permission
    (IsAuthenticated) already turns away before any view runs."""
    user = request.user
    if not user.is_authenticated:
        raise NotAuthenticated()
    return user
