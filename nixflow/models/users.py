"""People: requesters write in, agents work tickets, admins configure the desk."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower, Upper
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    REQUESTER = "requester", _("Requester")
    AGENT = "agent", _("Agent")
    ADMIN = "admin", _("Admin")


class Availability(models.TextChoices):
    """Whether an agent takes new work: auto-assignment skips agents who are away."""

    AVAILABLE = "available", _("Available")
    AWAY = "away", _("Away")


def language_choices() -> list[tuple[str, str]]:
    """The desk's languages (settings.LANGUAGES), read when a form asks: a callable, so
    adding a language changes no migration."""
    from django.conf import settings

    return [(code, str(name)) for code, name in settings.LANGUAGES]


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
    # An IANA name (Europe/Berlin); empty: the desk's TIME_ZONE. The admin shows dates in
    # it (nixflow.middleware.UserTimeZoneMiddleware).
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        default="",
        db_default="",
        help_text="Dates and times are shown in this zone. Empty: the desk's time zone.",
    )

    availability = models.CharField(
        max_length=16,
        choices=Availability.choices,
        default=Availability.AVAILABLE,
        db_default=Availability.AVAILABLE,
        help_text="Agents who are away get no new tickets from auto-assignment.",
    )

    # A code of settings.LANGUAGES ("de"); empty: the browser's Accept-Language on pages,
    # the desk's LANGUAGE_CODE in mail. Pages and every mail to the person use it
    # (nixflow.middleware.UserLanguageMiddleware, nixflow.toolkit.language).
    language = models.CharField(
        max_length=16,
        choices=language_choices,
        blank=True,
        default="",
        db_default="",
        help_text="Pages and mail are in this language. Empty: the browser's, or the desk's.",
    )

    objects: ClassVar[NixflowUserManager] = NixflowUserManager()

    class Meta:
        # The admin's people search (and mail intake) look users up by username or
        # e-mail address case-insensitively, which Django runs as UPPER(col) = UPPER(%s).
        indexes = [
            models.Index(Upper("username"), name="nixflow_user_username_upper"),
            models.Index(Upper("email"), name="nixflow_user_email_upper"),
            # The ticket search also finds requesters by a first or last name.
            models.Index(Upper("first_name"), name="nixflow_user_first_name_upper"),
            models.Index(Upper("last_name"), name="nixflow_user_last_name_upper"),
        ]
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
