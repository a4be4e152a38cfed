"""Core models of the service desk. The ticketing models arrive with the core issue."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower


class Role(models.TextChoices):
    REQUESTER = "requester", "Requester"
    AGENT = "agent", "Agent"
    ADMIN = "admin", "Admin"


class NixflowUserManager(UserManager["User"]):
    def create_superuser(
        self, username: str, email: str | None = None, password: str | None = None, **extra: Any
    ) -> User:
        # `createsuperuser` makes a NixFlow admin, not a requester with staff rights.
        extra.setdefault("role", Role.ADMIN)
        return super().create_superuser(username, email, password, **extra)


class User(AbstractUser):
    """A person: requesters write in, agents work tickets, admins configure the desk.

    The e-mail address identifies a requester when mail arrives, so it is unique
    (case-insensitively, as mail servers treat it) whenever it is set.
    """

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.REQUESTER)

    objects = NixflowUserManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                condition=~models.Q(email=""),
                name="nixflow_user_email_ci_unique",
                violation_error_message="A user with this e-mail address already exists.",
            ),
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="nixflow_user_role_valid"
            ),
        ]

    @property
    def is_agent(self) -> bool:
        """Agents and admins work tickets; requesters only see their own."""
        return self.role in {Role.AGENT, Role.ADMIN}
