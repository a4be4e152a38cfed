"""Who is asking (the signed-in user of a request, typed as NixFlow's ``User``) and
whether they may act (``require_agent``, the check every app's services start with)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from rest_framework.request import Request

from nixflow.models import Role, User


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


def require_agent(actor: User | None, action: str) -> None:
    """Refuse a person who is not an agent (or admin): "Only agents can <action>."

    ``actor`` None is the system (demo data, scheduled tasks, mail intake), which may do
    anything. Anything else without an ``is_agent`` that is true is refused, including an
    ``AnonymousUser`` that reached a service through a view that lost its guard.
    """
    if actor is not None and not getattr(actor, "is_agent", False):
        raise PermissionDenied(f"Only agents can {action}.")


def is_admin(user: object) -> bool:
    """Admins configure the desk: the admin role, or a superuser (whatever their role)."""
    return bool(
        getattr(user, "is_active", False)
        and (getattr(user, "is_superuser", False) or getattr(user, "role", None) == Role.ADMIN)
    )


def require_admin(actor: User | None, action: str) -> None:
    """Refuse anyone but an active admin or superuser: "Only admins can <action>."

    ``actor`` None is the system (data migrations, demo data, commands), which may.
    """
    if actor is not None and not is_admin(actor):
        raise PermissionDenied(f"Only admins can {action}.")
