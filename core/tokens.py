"""A person's API token, handed out in exchange for a username and password."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.authtoken.models import Token

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def auth_token_obtain(*, user: User) -> Token:
    """The user's API token, created on first use. The same token is returned on every
    later call, so signing in on a second machine does not sign out the first."""
    token, _ = Token.objects.get_or_create(user=user)
    return token
