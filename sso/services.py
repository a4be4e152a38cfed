"""Signing a person in from the claims the OpenID provider vouches for.

``identity_sign_in`` finds the account (by the provider's subject, else by a verified
e-mail address, else a new requester), brings its name, address, role and teams in line
with the claims, and returns it. Every change goes through the core's user and team
services, so it is recorded (``user.*``, ``team.updated``) like a change an admin makes;
the actor is the system (None), as for mail intake.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from nixflow import events
from nixflow.models import Role, Team, User
from nixflow.services.teams import team_update
from nixflow.services.users import requester_get_or_create, user_update
from sso.models import Identity

logger = logging.getLogger(__name__)
# The highest role a person's groups map to wins.
ROLE_RANK = {Role.REQUESTER: 0, Role.AGENT: 1, Role.ADMIN: 2}


class SignInRefusedError(Exception):
    """The provider vouched for someone this desk will not sign in; ``message`` says why
    to the person, in their words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _verified(claims: Mapping[str, Any]) -> bool:
    # A boolean by the specification (OpenID Connect Core 5.1); some providers send the
    # string "true".
    value = claims.get("email_verified")
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _claim_list(claims: Mapping[str, Any], name: str) -> list[str]:
    if name not in claims:
        # Refused rather than read as "no groups": a provider that stopped sending the
        # claim (a scope left out) would otherwise demote every agent signing in.
        raise SignInRefusedError(
            _(
                "The sign-in service sent no “%(claim)s” claim, which decides your access "
                "here. Ask your administrator to check the single sign-on settings."
            )
            % {"claim": name}
        )
    value = claims[name]
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(item) for item in value]
    return []


def claimed_role(claims: Mapping[str, Any]) -> Role | None:
    """The role ``OIDC_ROLE_CLAIM`` maps to (``OIDC_ROLE_MAP``), None when roles are
    kept on the desk (no claim configured). No mapped group: requester."""
    claim = getattr(settings, "OIDC_ROLE_CLAIM", "")
    if not claim:
        return None
    mapping = getattr(settings, "OIDC_ROLE_MAP", {})
    roles = [Role(mapping[group]) for group in _claim_list(claims, claim) if group in mapping]
    return max(roles, key=ROLE_RANK.__getitem__, default=Role.REQUESTER)


def _claimed_team_names(claims: Mapping[str, Any]) -> set[str] | None:
    claim = getattr(settings, "OIDC_TEAMS_CLAIM", "")
    mapping: dict[str, str] = getattr(settings, "OIDC_TEAM_MAP", {})
    if not (claim and mapping):
        return None
    return {mapping[group].lower() for group in _claim_list(claims, claim) if group in mapping}


def _names(claims: Mapping[str, Any]) -> dict[str, str]:
    first = claims.get("given_name")
    last = claims.get("family_name")
    if not (isinstance(first, str) or isinstance(last, str)):
        name = claims.get("name")
        if not isinstance(name, str) or not name.strip():
            return {}
        first, _sep, last = name.strip().partition(" ")
    return {"first_name": str(first or "")[:150], "last_name": str(last or "").strip()[:150]}


def _email(claims: Mapping[str, Any]) -> str:
    email = claims.get("email")
    return email.strip() if isinstance(email, str) else ""


def _link(*, issuer: str, subject: str, claims: Mapping[str, Any]) -> Identity:
    """The first sign-in of this subject: link it to the account of its verified address,
    or to a new requester."""
    email = _email(claims)
    if not email:
        raise SignInRefusedError(
            _(
                "The sign-in service did not tell us your e-mail address, so no account "
                "can be found."
            )
        )
    if not _verified(claims):
        raise SignInRefusedError(
            _(
                "The sign-in service has not verified your e-mail address %(email)s. Verify "
                "it there, then sign in again."
            )
            % {"email": email}
        )
    user = User.objects.filter(email__iexact=email).order_by("pk").first()
    if user is None:
        if not getattr(settings, "OIDC_CREATE_USERS", True):
            raise SignInRefusedError(
                _("There is no account for %(email)s here. Ask the desk to create one.")
                % {"email": email}
            )
        user, _created = requester_get_or_create(email=email, name=str(claims.get("name") or ""))
    elif Identity.objects.filter(user=user, issuer=issuer).exists():
        raise SignInRefusedError(
            _(
                "The account for %(email)s is already linked to another person at the "
                "sign-in service. Ask your administrator to sort this out."
            )
            % {"email": email}
        )
    try:
        # A savepoint: two sign-ins of one person at once both get here, and the second
        # insert is refused by the unique constraint.
        with transaction.atomic():
            return Identity.objects.create(user=user, issuer=issuer, subject=subject)
    except IntegrityError:
        raise SignInRefusedError(_("You signed in twice at once. Please sign in again.")) from None


def _account_changes(user: User, claims: Mapping[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {
        field: value for field, value in _names(claims).items() if getattr(user, field) != value
    }
    email = _email(claims)
    if email and _verified(claims) and email.lower() != user.email.lower():
        if User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists():
            raise SignInRefusedError(
                _(
                    "Your new e-mail address %(email)s belongs to another account here. Ask "
                    "your administrator to merge or change the accounts."
                )
                % {"email": email}
            )
        data["email"] = email
    role = claimed_role(claims)
    if role is not None and role != user.role:
        data["role"] = role
    return data


def _sync_superuser(user: User) -> None:
    """Admins are superusers (nixflow.services.users.user_create); when the provider's
    groups decide the role, they decide this too, or a demoted admin would stay one."""
    is_superuser = user.role == Role.ADMIN
    if user.is_superuser == is_superuser:
        return
    user.is_superuser = is_superuser
    user.save(update_fields=["is_superuser"])
    events.record_user_event(
        type=events.USER_UPDATED,
        user=user,
        actor=None,
        payload={
            "fields": ["is_superuser"],
            "changes": {"is_superuser": [not is_superuser, is_superuser]},
        },
    )


def _sync_teams(user: User, wanted: set[str]) -> None:
    """Membership of the mapped teams (``OIDC_TEAM_MAP``) as the claims say; teams the
    map does not name are the desk's to manage. An account that is no longer an agent
    leaves every team (only agents are members)."""
    mapping: dict[str, str] = getattr(settings, "OIDC_TEAM_MAP", {})
    mapped = {name.lower() for name in mapping.values()} if user.is_agent else set()
    candidates = set(Team.objects.filter(memberships__user=user).values_list("pk", flat=True))
    if mapped:
        named = Team.objects.annotate(lower_name=Lower("name")).filter(lower_name__in=mapped)
        candidates |= set(named.values_list("pk", flat=True))
    # Locked in one order (by id), so two sign-ins never wait on each other crosswise,
    # and before the member list is read, so a concurrent change to the team is not lost
    # from the list team_update is given.
    teams = list(Team.objects.select_for_update().filter(pk__in=candidates).order_by("pk"))
    missing = mapped - {team.name.lower() for team in teams}
    if missing:
        logger.warning("OIDC_TEAM_MAP names missing teams: %s", ", ".join(sorted(missing)))
    for team in teams:
        name = team.name.lower()
        if user.is_agent and name not in mapped:
            continue
        rows: list[dict[str, Any]] = [
            {"user": m.user, "is_lead": m.is_lead}
            for m in team.memberships.select_related("user").order_by("pk")
        ]
        member = any(row["user"].pk == user.pk for row in rows)
        want = user.is_agent and name in wanted
        if want == member:
            continue
        rows = [row for row in rows if row["user"].pk != user.pk]
        if want:
            rows.append({"user": user, "is_lead": False})
        try:
            team_update(team=team, actor=None, members=rows)
        except ValidationError as error:
            # Another member's row is invalid (a deactivated account still listed): the
            # team needs an admin; the sign-in goes on.
            logger.warning("Team %s not updated for %s: %s", team.name, user.username, error)


@transaction.atomic
def identity_sign_in(*, issuer: str, claims: Mapping[str, Any]) -> User:
    """The active account the provider's ``claims`` (the userinfo response) sign in, its
    name, address, role and teams brought in line with them; ``SignInRefusedError`` says why
    not."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise SignInRefusedError(_("The sign-in service did not say who you are (no subject)."))
    identity = (
        Identity.objects.select_for_update()
        .select_related("user")
        .filter(issuer=issuer, subject=subject)
        .first()
    )
    if identity is None:
        identity = _link(issuer=issuer, subject=subject, claims=claims)
    user = User.objects.select_for_update().get(pk=identity.user_id)
    if not user.is_active:
        raise SignInRefusedError(
            _("Your account here is disabled. Ask the desk if you need it back.")
        )
    teams = _claimed_team_names(claims)
    data = _account_changes(user, claims)
    if data:
        user = user_update(user=user, actor=None, data=data)
    if claimed_role(claims) is not None:
        _sync_superuser(user)
    if teams is not None or (data.get("role") and not user.is_agent):
        _sync_teams(user, teams or set())
    identity.last_signed_in = timezone.now()
    identity.save(update_fields=["last_signed_in"])
    return user
