"""Role-based API permissions shared by the apps' APIs, and the user-id field that
keeps requesters from learning which accounts exist."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from nixflow.models import User
from nixflow.toolkit.auth import is_admin as toolkit_is_admin


def is_admin(user: Any) -> bool:
    """The services' rule (``nixflow.toolkit.auth.is_admin``), for a signed-in user."""
    return bool(user and user.is_authenticated and toolkit_is_admin(user))


def is_agent(user: Any) -> bool:
    """Agents and admins work tickets; a superuser does whatever role they were given."""
    return bool(user and user.is_authenticated and (user.is_superuser or user.is_agent))


class IsAgent(BasePermission):
    """Agents and admins; requesters get 403, anonymous clients 401."""

    message = "Only agents and admins can do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return is_agent(request.user)


class IsAdminOrAgentReadOnly(BasePermission):
    """Configuration: agents read it, admins change it."""

    message = "Only admins can change this; agents can read it."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return is_agent(request.user)
        return is_admin(request.user)


class IsAdminOrReadOnly(BasePermission):
    """What every signed-in user may read (workflows): admins change it."""

    message = "Only admins can change this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in SAFE_METHODS or is_admin(request.user)


class UserIdField(serializers.PrimaryKeyRelatedField):
    """A user's id in a request body (a ticket's requester or assignee, a watcher).

    Agents may name any user. A requester may name only themselves: any other id gets
    the same 400 and message as an id that names nobody, never a 403 from the service,
    so that trying ids cannot tell a requester which accounts exist.
    Needs the request in the serializer's context; without one it accepts no id.
    """

    default_error_messages = {
        **serializers.PrimaryKeyRelatedField.default_error_messages,
        "does_not_exist": 'No user "{pk_value}" that you may name here.',
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(queryset=User.objects.all(), **kwargs)

    def get_queryset(self) -> QuerySet[User]:
        user = getattr(self.context.get("request"), "user", None)
        if is_agent(user):
            return User.objects.all()
        if user is None or not user.is_authenticated:
            return User.objects.none()
        return User.objects.filter(pk=user.pk)
