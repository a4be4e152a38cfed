"""Users: accounts staff create and change, and the requesters mail and forms create
from an e-mail address."""

from __future__ import annotations

import re
import secrets
import zoneinfo
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from nixflow import events
from nixflow.models import (
    Role,
    User,
)
from nixflow.toolkit.auth import require_admin
from nixflow.toolkit.services import changes_payload, model_update

# --- Users ------------------------------------------------------------------------------
USER_FIELDS = frozenset({"email", "first_name", "last_name", "role", "is_active"})


@transaction.atomic
def user_create(
    *,
    username: str,
    email: str,
    role: Role,
    password: str | None = None,
    first_name: str = "",
    last_name: str = "",
    actor: User | None = None,
) -> User:
    """Create a user and record ``user.created``.

    Agents and admins are staff (they use the admin site); admins are also superusers,
    as the desk's administrators. ``password`` None leaves the account without a usable
    password (requesters made by mail or forms, who sign in after a reset).

    ``actor`` None is the system (mail, forms, commands, demo data). People must be
    admins, and only a superuser may create an admin: an admin is a superuser, and an
    admin who is not one must not be able to make one.
    """
    require_admin(actor, "create users")
    if actor is not None and role == Role.ADMIN and not actor.is_superuser:
        raise PermissionDenied("Only superusers can create admins (admins are superusers).")
    user = User(
        username=username,
        email=email,
        role=role,
        first_name=first_name,
        last_name=last_name,
        is_staff=role in {Role.AGENT, Role.ADMIN},
        is_superuser=role == Role.ADMIN,
    )
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.full_clean()
    user.save()
    events.record_user_event(
        type=events.USER_CREATED,
        user=user,
        actor=actor,
        payload={"username": user.username, "role": user.role},
    )
    return user


@transaction.atomic
def user_update(*, user: User, actor: User | None, data: dict[str, Any]) -> User:
    """Change a user's e-mail address, name, role or active state, and record
    ``user.updated`` with the changed fields (``events.USER_UPDATED``).

    A role change keeps ``is_staff`` in step with the role (agents and admins use the
    admin site); superuser status is a superuser's to grant, in the admin. Only admins
    change users, and only superusers change a superuser.
    """
    require_admin(actor, "change users")
    if actor is not None and user.is_superuser and not actor.is_superuser:
        raise PermissionDenied("Only superusers can change a superuser.")
    user = User.objects.select_for_update().get(pk=user.pk)
    role = data.get("role", user.role)
    also = {"is_staff": role in {Role.AGENT, Role.ADMIN}} if "role" in data else {}
    changes = model_update(instance=user, data={**data, **also}, allowed=USER_FIELDS | {"is_staff"})
    if changes:
        events.record_user_event(
            type=events.USER_UPDATED,
            user=user,
            actor=actor,
            payload={
                "fields": sorted(changes),
                "changes": changes_payload(changes, hide={"email"}),
            },
        )
    return user


@transaction.atomic
def user_set_time_zone(*, user: User, time_zone: str, actor: User | None) -> User:
    """Set the time zone the admin shows ``user`` dates in: people their own, admins
    anyone's. ``""`` goes back to the desk's (TIME_ZONE). Records ``user.updated``."""
    if actor is not None and actor.pk != user.pk:
        require_admin(actor, "set another person's time zone")
    time_zone = time_zone.strip()
    if time_zone and time_zone not in zoneinfo.available_timezones():
        raise ValidationError(
            {"time_zone": f"{time_zone!r} is not a time zone name such as Europe/Berlin."}
        )
    user = User.objects.select_for_update().get(pk=user.pk)
    changes = model_update(instance=user, data={"time_zone": time_zone}, allowed={"time_zone"})
    if changes:
        events.record_user_event(
            type=events.USER_UPDATED,
            user=user,
            actor=actor,
            payload={"fields": sorted(changes), "changes": changes_payload(changes)},
        )
    return user


def _username_base(email: str) -> str:
    return re.sub(r"[^\w.@+-]", "", email.lower())[:140] or "requester"


def _user_with_email(email: str) -> User | None:
    return User.objects.filter(email__iexact=email).exclude(email="").order_by("pk").first()


@transaction.atomic
def requester_get_or_create(
    *, email: str, name: str = "", look_up: bool = True
) -> tuple[User, bool]:
    """The user with this e-mail address (case-insensitively), else a new requester with
    no usable password: ``(user, created)``, as Django's ``get_or_create``.

    The found user is returned whatever they are: the caller decides what an address
    may link to. Forms and mail check ``user.is_active``, ``user.is_agent`` and
    ``user.is_superuser`` (an anonymous form must not act as a staff or disabled
    account); ``created`` says whether the address was new.

    ``look_up=False`` skips the first lookup when the caller has just looked the address
    up and found nobody (mail intake loads a batch's senders in one query).

    The username is the address, lower-cased and stripped of characters usernames can't
    have. When that is taken (by another address that strips to the same name, or by
    someone who chose it), a random suffix is tried instead (``carol@example.com-3fa9c1``),
    up to five times. Random rather than counting up (``-2``, ``-3``) because counting
    costs a query per taken name and two concurrent creations count to the same name;
    a clash of random names is refused by the unique index and simply retried. A clash
    on the e-mail address means a concurrent request created this requester first: that
    user is returned (``created`` False). ``user_create`` runs in a savepoint, so a
    refused insert leaves the caller's transaction usable.
    """
    if look_up and (found := _user_with_email(email)) is not None:
        return found, False
    first, _, last = name.strip().partition(" ")
    base = _username_base(email)
    for attempt in range(5):
        username = base if attempt == 0 else f"{base}-{secrets.token_hex(3)}"
        try:
            user = user_create(
                username=username,
                email=email,
                role=Role.REQUESTER,
                first_name=first[:150],
                last_name=last.strip()[:150],
            )
        except ValidationError as error:
            if "username" not in getattr(error, "error_dict", {}) or len(error.error_dict) > 1:
                found = _user_with_email(email)
                if found is None:
                    raise
                return found, False
        except IntegrityError:
            found = _user_with_email(email)
            if found is not None:
                return found, False
        else:
            return user, True
    raise ValidationError({"email": f"No requester could be created for {email}."})
