"""Role-based API permissions shared by the apps' APIs."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from nixflow.models import Role


def is_admin(user: Any) -> bool:
    return bool(user and user.is_authenticated and (user.is_superuser or user.role == Role.ADMIN))


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
