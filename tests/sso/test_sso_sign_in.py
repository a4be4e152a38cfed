"""Who the provider's claims sign in, and what they change (sso.services), tried through
the service with the claims a provider's userinfo answers; the browser tests run the
same through the whole flow."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_django.fixtures import Settings

from eventlog.models import EventLog
from nixflow.models import Role, TeamMembership, User
from sso.models import Identity
from sso.services import SignInRefusedError, identity_sign_in
from tests.factories import AgentFactory, RequesterFactory, TeamFactory, TeamMembershipFactory

pytestmark = pytest.mark.django_db
ISSUER = "https://id.example.org"


@pytest.fixture(autouse=True)
def _mapping(settings: Settings) -> None:
    settings.OIDC_ENABLED = True
    settings.OIDC_CREATE_USERS = True
    settings.OIDC_ROLE_CLAIM = "groups"
    settings.OIDC_ROLE_MAP = {"desk-agents": "agent", "desk-admins": "admin"}
    settings.OIDC_TEAMS_CLAIM = "groups"
    settings.OIDC_TEAM_MAP = {"support-l1": "First line", "support-billing": "Billing"}


def claims(sub: str = "s-1", email: str = "pat@example.org", **more: Any) -> dict[str, Any]:
    return {"sub": sub, "email": email, "email_verified": True, "groups": [], **more}


def test_first_sign_in_creates_a_requester_recorded_as_created_by_the_system() -> None:
    user = identity_sign_in(issuer=ISSUER, claims=claims(name="Pat Lee"))

    assert (user.role, user.first_name, user.last_name) == (Role.REQUESTER, "Pat", "Lee")
    assert not user.has_usable_password()
    created = EventLog.objects.get(type="user.created", subject_id=str(user.pk))
    assert created.actor is None
    assert Identity.objects.get(issuer=ISSUER, subject="s-1").user == user


def test_the_highest_mapped_role_wins_and_an_admin_is_a_superuser() -> None:
    user = identity_sign_in(
        issuer=ISSUER, claims=claims(groups=["desk-agents", "desk-admins", "other"])
    )

    assert (user.role, user.is_staff, user.is_superuser) == (Role.ADMIN, True, True)
    fields = [
        e.payload["fields"]
        for e in EventLog.objects.filter(type="user.updated", subject_id=str(user.pk)).order_by(
            "id"
        )
    ]
    assert fields == [["is_staff", "role"], ["is_superuser"]]


def test_a_demoted_admin_stops_being_a_superuser_and_leaves_every_team() -> None:
    desk_team = TeamFactory(name="Escalations")  # not mapped: the desk's own
    user = identity_sign_in(issuer=ISSUER, claims=claims(groups=["desk-admins", "support-l1"]))
    TeamMembershipFactory(team=desk_team, user=user)

    user = identity_sign_in(issuer=ISSUER, claims=claims(groups=[]))

    assert (user.role, user.is_staff, user.is_superuser) == (Role.REQUESTER, False, False)
    assert not TeamMembership.objects.filter(user=user).exists()


def test_mapped_teams_follow_the_claims_and_the_desks_own_teams_are_left_alone() -> None:
    first_line = TeamFactory(name="First line")
    billing = TeamFactory(name="Billing")
    own = TeamFactory(name="Escalations")
    colleague = AgentFactory()
    TeamMembershipFactory(team=billing, user=colleague, is_lead=True)
    user = identity_sign_in(issuer=ISSUER, claims=claims(groups=["desk-agents", "support-l1"]))
    TeamMembershipFactory(team=own, user=user)

    user = identity_sign_in(issuer=ISSUER, claims=claims(groups=["desk-agents", "support-billing"]))

    assert set(user.teams.all()) == {billing, own}
    assert not first_line.members.exists()
    assert TeamMembership.objects.get(team=billing, user=colleague).is_lead
    update = EventLog.objects.filter(type="team.updated", subject_id=str(billing.pk)).get()
    assert [m["username"] for m in update.payload["members"]["added"]] == [user.username]


def test_without_a_role_claim_configured_the_desk_keeps_its_roles(settings: Settings) -> None:
    settings.OIDC_ROLE_CLAIM = ""
    agent = AgentFactory(email="pat@example.org")

    user = identity_sign_in(issuer=ISSUER, claims=claims(groups=[]))

    assert user == agent
    assert user.role == Role.AGENT


def test_a_missing_role_claim_is_refused_rather_than_read_as_no_groups() -> None:
    agent = AgentFactory(email="pat@example.org")
    without_groups = claims()
    del without_groups["groups"]

    with pytest.raises(SignInRefusedError, match="sent no “groups” claim"):
        identity_sign_in(issuer=ISSUER, claims=without_groups)

    agent.refresh_from_db()
    assert agent.role == Role.AGENT
    assert not Identity.objects.exists()


@pytest.mark.parametrize("verified", [False, None, "false"])
def test_an_unverified_address_links_nothing(verified: Any) -> None:
    RequesterFactory(email="pat@example.org")

    with pytest.raises(SignInRefusedError, match="has not verified your e-mail address"):
        identity_sign_in(issuer=ISSUER, claims=claims(email_verified=verified))

    assert not Identity.objects.exists()
    assert User.objects.count() == 1


def test_the_string_true_counts_as_verified() -> None:
    user = identity_sign_in(issuer=ISSUER, claims=claims(email_verified="true"))
    assert user.email == "pat@example.org"


def test_no_address_and_no_subject_are_refused() -> None:
    with pytest.raises(SignInRefusedError, match="did not tell us your e-mail address"):
        identity_sign_in(issuer=ISSUER, claims=claims(email=""))
    with pytest.raises(SignInRefusedError, match="no subject"):
        identity_sign_in(issuer=ISSUER, claims=claims(sub=""))


def test_no_new_accounts_when_creation_is_off(settings: Settings) -> None:
    settings.OIDC_CREATE_USERS = False

    with pytest.raises(SignInRefusedError, match=r"There is no account for pat@example\.org"):
        identity_sign_in(issuer=ISSUER, claims=claims())

    assert not User.objects.exists()


def test_a_disabled_account_is_refused() -> None:
    RequesterFactory(email="pat@example.org", is_active=False)

    with pytest.raises(SignInRefusedError, match="disabled"):
        identity_sign_in(issuer=ISSUER, claims=claims())


def test_later_sign_ins_find_the_account_by_subject_and_take_a_new_verified_address() -> None:
    user = identity_sign_in(issuer=ISSUER, claims=claims())

    again = identity_sign_in(issuer=ISSUER, claims=claims(email="pat.lee@example.org"))

    assert again == user
    assert again.email == "pat.lee@example.org"
    update = EventLog.objects.filter(type="user.updated", subject_id=str(user.pk)).get()
    assert update.payload["fields"] == ["email"]


def test_a_new_address_that_another_account_has_is_a_conflict() -> None:
    user = identity_sign_in(issuer=ISSUER, claims=claims())
    RequesterFactory(email="taken@example.org")

    with pytest.raises(SignInRefusedError, match="belongs to another account"):
        identity_sign_in(issuer=ISSUER, claims=claims(email="taken@example.org"))

    user.refresh_from_db()
    assert user.email == "pat@example.org"


def test_an_unverified_new_address_is_not_taken() -> None:
    user = identity_sign_in(issuer=ISSUER, claims=claims())

    again = identity_sign_in(
        issuer=ISSUER, claims=claims(email="other@example.org", email_verified=False)
    )

    assert again == user
    assert again.email == "pat@example.org"


def test_the_same_subject_at_another_issuer_is_another_identity() -> None:
    identity_sign_in(issuer=ISSUER, claims=claims())
    identity_sign_in(issuer="https://other.example.org", claims=claims(email="sam@example.org"))

    assert Identity.objects.count() == 2
    assert User.objects.count() == 2


def test_a_single_group_sent_as_a_string_counts() -> None:
    user = identity_sign_in(issuer=ISSUER, claims=claims(groups="desk-agents"))
    assert user.role == Role.AGENT
