"""Who is asking: the signed-in user of a request, typed as NixFlow's ``User``."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from rest_framework.request import Request

from nixflow.models import User


def signed_in_user(request: HttpRequest | Request) -> User:
    """``request.user`` where the view already admits only signed-in users (every admin
    view, an API view behind ``IsAuthenticated`` or a role permission).

    ``request.user`` is typed ``User | AnonymousUser``; this narrows it, so the services
    that record who acted get a ``User``. The check never fails behind those guards; if
    a view loses its guard, the request gets a 403 instead of an anonymous actor.
    """
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("Sign in first.")
    return user


def signed_in_user_or_none(request: HttpRequest | Request) -> User | None:
    """The signed-in user, or None for an anonymous reader (views open to anyone)."""
    user = request.user
    return user if isinstance(user, User) else None
