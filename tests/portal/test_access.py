"""Signing in to the portal: with a password, or with a link mailed to the address. A
link signs in once, expires, cannot be forged, and asking for one never tells whether an
account has the address; both ways are rate limited, and ``?next=`` only leads within
the site."""

from __future__ import annotations

import re
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext
from pytest_django.fixtures import Settings
from rest_framework.throttling import SimpleRateThrottle

from eventlog import outbox
from eventlog.models import OutboxMessage
from nixflow.models import Role, User
from portal import access
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
SIGNIN = "/portal/signin/"
LINK = re.compile(r"https?://[^/\s]+(/portal/signin/link/[^/\s]+/[^/\s]+/(?:\?next=\S+)?)")


@pytest.fixture
def ann(db: None) -> User:
    return UserFactory(username="ann", email="Ann@Example.com", first_name="Ann")


def ask_for_link(client: Client, email: str, **extra: str) -> Any:
    return client.post(SIGNIN, {"how": "link", "email": email, **extra})


def mailed_links() -> list[str]:
    """Run what the outbox holds, as the relay and a worker would; the links mailed."""
    outbox.run_inline()
    found = []
    for message in mail.outbox:
        match = LINK.search(str(message.body))
        assert match is not None, message.body
        found.append(match.group(1))
    return found


def signed_in_as(client: Client) -> int | None:
    value = client.session.get("_auth_user_id")
    return int(value) if value is not None else None


def link_for(user: User) -> str:
    return access.link_path(user=user, token=access.signin_tokens.make_token(user))


# --- The link -----------------------------------------------------------------------------


def test_a_mailed_link_signs_in_once_and_only_with_the_button(client: Client, ann: User) -> None:
    asked = ask_for_link(client, "ann@example.com")
    assert asked.status_code == 302
    assert asked["Location"] == reverse("portal:signin_link_sent")
    [link] = mailed_links()
    assert mail.outbox[0].to == ["Ann@Example.com"]
    assert mail.outbox[0].subject == "Your sign-in link"

    page = client.get(link)  # what a mail scanner does
    assert page.status_code == 200
    assert "This link signs you in as Ann." in page.content.decode()
    assert signed_in_as(client) is None

    done = client.post(link)
    assert done.status_code == 302
    assert signed_in_as(client) == ann.pk

    again = Client().post(link)
    assert again.status_code == 404
    assert "This link does not work" in again.content.decode()
    assert signed_in_as(Client()) is None


def test_signing_in_with_the_password_ends_the_links_mailed_before(
    client: Client, ann: User
) -> None:
    link = link_for(ann)
    assert Client().get(link).status_code == 200

    client.post(SIGNIN, {"how": "password", "username": "ann", "password": PASSWORD})
    assert signed_in_as(client) == ann.pk

    assert Client().post(link).status_code == 404


def test_a_link_expires_after_the_configured_minutes(ann: User, settings: Settings) -> None:
    settings.PORTAL_SIGNIN_LINK_MINUTES = 30
    link = link_for(ann)
    with time_machine.travel(timezone.now() + timedelta(minutes=29)):
        assert Client().get(link).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(minutes=31)):
        client = Client()
        page = client.post(link)
        assert page.status_code == 410
        assert "This link has expired" in page.content.decode()
        assert signed_in_as(client) is None


def test_forged_altered_and_foreign_links_sign_nobody_in(ann: User) -> None:
    bob = UserFactory(username="bob")
    token = access.signin_tokens.make_token(ann)
    ann_uid = link_for(ann).split("/")[4]
    bob_uid = link_for(bob).split("/")[4]
    flipped = token[:-1] + ("0" if token[-1] != "0" else "1")
    for path in [
        f"/portal/signin/link/{ann_uid}/{flipped}/",
        f"/portal/signin/link/{bob_uid}/{token}/",  # ann's token on bob's account
        f"/portal/signin/link/{ann_uid}/zzzzzzzzzzzzzzzzz-abc/",
        f"/portal/signin/link/{ann_uid}/no-dash-at-all-{'x' * 300}/",
        f"/portal/signin/link/!!!/{token}/",
        f"/portal/signin/link/{'A' * 40}/{token}/",
        f"/portal/signin/link/{urlsafe_base64_encode(b'9' * 30)}/{token}/",  # past bigint
        f"/portal/signin/link/{urlsafe_base64_encode(b'-1')}/{token}/",
    ]:
        client = Client()
        response = client.post(path)
        assert response.status_code == 404, path
        assert signed_in_as(client) is None


def test_an_invitation_token_is_not_a_sign_in_token_and_the_reverse(ann: User) -> None:
    token = access.invitation_tokens.make_token(ann)
    assert access.signin_tokens.state(ann, token) is access.LinkState.INVALID
    assert access.invitation_tokens.state(ann, token) is access.LinkState.VALID


def test_a_deactivated_accounts_link_signs_nobody_in(ann: User) -> None:
    link = link_for(ann)
    User.objects.filter(pk=ann.pk).update(is_active=False)
    client = Client()
    assert client.post(link).status_code == 404
    assert signed_in_as(client) is None


def test_agents_may_sign_in_with_a_link_too(db: None) -> None:
    agent = UserFactory(username="agnes", role=Role.AGENT)
    client = Client()
    client.post(link_for(agent))
    assert signed_in_as(client) == agent.pk


def test_the_link_is_never_stored_in_the_outbox(client: Client, ann: User) -> None:
    ask_for_link(client, "ann@example.com")
    kwargs = list(OutboxMessage.objects.values_list("kwargs", flat=True))
    assert kwargs == [{"email": "ann@example.com", "next": ""}]


# --- No account enumeration ----------------------------------------------------------------


def test_asking_for_an_unknown_address_looks_exactly_like_a_known_one(ann: User) -> None:
    known, unknown = Client(), Client()

    first = ask_for_link(known, "ann@example.com")
    second = ask_for_link(unknown, "nobody@example.com")

    assert (first.status_code, first["Location"]) == (second.status_code, second["Location"])
    # The same work queued for both: one message each, the same task.
    queued = list(OutboxMessage.objects.order_by("id").values_list("task", flat=True))
    assert queued == [access.SEND_LINK_TASK, access.SEND_LINK_TASK]
    page_known = known.get(first["Location"]).content.decode()
    page_unknown = unknown.get(second["Location"]).content.decode()
    assert page_known.replace("ann@example.com", "X") == page_unknown.replace(
        "nobody@example.com", "X"
    )
    assert "If an account uses the address" in page_known
    # Only the real account gets mail.
    assert len(mailed_links()) == 1
    assert mail.outbox[0].to == ["Ann@Example.com"]


def test_an_inactive_account_gets_no_link_and_the_same_answer(ann: User) -> None:
    User.objects.filter(pk=ann.pk).update(is_active=False)
    response = ask_for_link(Client(), "ann@example.com")
    assert response.status_code == 302
    assert mailed_links() == []


def test_a_malformed_address_is_refused_with_a_message(client: Client) -> None:
    page = client.post(SIGNIN, {"how": "link", "email": "not an address"})
    assert page.status_code == 200
    assert "Enter a valid email address." in page.content.decode()
    assert not OutboxMessage.objects.exists()


# --- Rate limits ------------------------------------------------------------------------------


def test_links_for_one_address_are_limited_whoever_asks(ann: User, settings: Settings) -> None:
    settings.PORTAL_SIGNIN_LINK_ADDRESS_RATE = "2/hour"
    for n in range(2):
        assert (
            ask_for_link(Client(REMOTE_ADDR=f"192.0.2.{n + 1}"), "ann@example.com").status_code
            == 302
        )

    refused = ask_for_link(Client(REMOTE_ADDR="192.0.2.9"), "ANN@example.com")

    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Please try again in" in refused.content.decode()
    assert OutboxMessage.objects.count() == 2
    # An unknown address is limited the same way: the limit says nothing about accounts.
    for _ in range(2):
        assert ask_for_link(Client(REMOTE_ADDR="192.0.2.20"), "x@example.com").status_code == 302
    assert ask_for_link(Client(REMOTE_ADDR="192.0.2.21"), "x@example.com").status_code == 429


def test_links_from_one_client_are_limited_whatever_address(settings: Settings) -> None:
    settings.PORTAL_SIGNIN_LINK_CLIENT_RATE = "3/hour"
    client = Client()
    statuses = [ask_for_link(client, f"p{n}@example.com").status_code for n in range(4)]
    assert statuses == [302, 302, 302, 429]
    assert ask_for_link(Client(REMOTE_ADDR="192.0.2.7"), "p9@example.com").status_code == 302


def test_password_sign_ins_share_the_sign_in_limit_per_address(
    ann: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DRF's throttles read the rates dict bound at import (as tests/test_security.py).
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "login", "3/minute")
    client = Client()
    statuses = [
        client.post(SIGNIN, {"how": "password", "username": f"u{n}", "password": "x"}).status_code
        for n in range(3)
    ]
    refused = client.post(SIGNIN, {"how": "password", "username": "ann", "password": PASSWORD})
    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert "There were many sign-in attempts from your connection." in refused.content.decode()
    assert signed_in_as(client) is None
    # Asking for a link is not a password attempt.
    assert ask_for_link(client, "ann@example.com").status_code == 302


def test_failed_passwords_lock_the_account_out_through_axes(
    client: Client, ann: User, settings: Settings
) -> None:
    limit = settings.AXES_FAILURE_LIMIT
    statuses = [
        client.post(SIGNIN, {"how": "password", "username": "ann", "password": "no"}).status_code
        for _ in range(limit)
    ]
    assert statuses[-1] == 429
    locked = client.post(SIGNIN, {"how": "password", "username": "ann", "password": PASSWORD})
    assert locked.status_code == 429
    assert signed_in_as(client) is None


# --- Passwords ---------------------------------------------------------------------------------


def test_a_password_signs_in_by_username_or_address(ann: User) -> None:
    by_name, by_address = Client(), Client()
    by_name.post(SIGNIN, {"how": "password", "username": "ann", "password": PASSWORD})
    by_address.post(
        SIGNIN, {"how": "password", "username": "ANN@example.com", "password": PASSWORD}
    )
    assert signed_in_as(by_name) == ann.pk
    assert signed_in_as(by_address) == ann.pk


def test_a_wrong_password_says_so_and_signs_nobody_in(client: Client, ann: User) -> None:
    page = client.post(SIGNIN, {"how": "password", "username": "ann", "password": "nope"})
    assert page.status_code == 200
    assert "Please enter a correct" in page.content.decode()
    assert signed_in_as(client) is None


# --- Where to go next -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "lands"),
    [
        ("/portal/settings/?tab=1", "/portal/settings/?tab=1"),
        ("https://evil.example/", None),
        ("//evil.example/", None),
        ("/\\evil.example/", None),
        ("javascript:alert(1)", None),
        ("http://testserver.evil.example/", None),
        ("http://testserver/portal/settings/", "http://testserver/portal/settings/"),
        ("/portal/signin/link/MQ/abc-def/", None),  # back to a used link: no
    ],
)
def test_next_leads_only_within_the_site(ann: User, given: str, lands: str | None) -> None:
    default = access_default()
    client = Client()
    response = client.post(
        SIGNIN, {"how": "password", "username": "ann", "password": PASSWORD, "next": given}
    )
    assert response.status_code == 302
    assert response["Location"] == (lands or default)


def access_default() -> str:
    from portal.account_views import _default_next

    return _default_next()


def test_a_mailed_link_keeps_a_safe_next_and_drops_another(client: Client, ann: User) -> None:
    ask_for_link(client, "ann@example.com", next="/portal/settings/")
    ask_for_link(client, "ann@example.com", next="https://evil.example/")
    safe, unsafe = mailed_links()
    assert safe.endswith("?next=%2Fportal%2Fsettings%2F")
    assert "next" not in unsafe
    done = Client().post(safe)
    assert done["Location"] == "/portal/settings/"


def test_a_signed_in_visitor_of_the_sign_in_page_goes_on(client: Client, ann: User) -> None:
    client.force_login(ann)
    assert client.get(SIGNIN + "?next=/portal/settings/")["Location"] == "/portal/settings/"


# --- Signing out ----------------------------------------------------------------------------------


def test_signing_out_takes_a_post(client: Client, ann: User) -> None:
    client.force_login(ann)
    page = client.get("/portal/signout/")
    assert page.status_code == 200
    assert signed_in_as(client) == ann.pk

    done = client.post("/portal/signout/")

    assert done.status_code == 302
    assert signed_in_as(client) is None
    assert "You are signed out." in client.get(done["Location"]).content.decode()


# --- The mail's language ------------------------------------------------------------------------


def test_the_sign_in_mail_is_in_german_for_a_german_reader(client: Client, ann: User) -> None:
    User.objects.filter(pk=ann.pk).update(language="de")
    with translation.override("de"):
        subject = gettext("Your sign-in link")
        opening = gettext("Open this link to sign in:")
    # The portal's German catalog has them (its makemessages run includes this module).
    assert subject != "Your sign-in link"
    assert opening != "Open this link to sign in:"

    # Asked for from an English page: the mail follows the reader, not the asker.
    client.post(SIGNIN, {"how": "link", "email": "ann@example.com"}, HTTP_ACCEPT_LANGUAGE="en")
    mailed_links()

    assert mail.outbox[0].subject == subject
    assert opening in str(mail.outbox[0].body)
    assert mail.outbox[0].extra_headers["Content-Language"] == "de"


def test_the_sign_in_mail_is_marked_automatic_so_auto_replies_do_not_answer_it(
    client: Client, ann: User
) -> None:
    client.post(SIGNIN, {"how": "link", "email": "ann@example.com"})
    mailed_links()

    message = mail.outbox[0].message()
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Content-Language"] == "en"


def test_the_sign_in_mail_is_in_english_for_a_reader_without_a_language(ann: User) -> None:
    subject, body = access.signin_link_mail(ann)
    assert subject == "Your sign-in link"
    assert body.startswith("Hello Ann,")
    assert "The link works once, for 30 minutes." in body


def test_the_sign_in_mail_is_built_in_the_readers_language(
    ann: User, settings: Settings, tmp_path: Path
) -> None:
    """The mechanism, whatever the shipped catalog says: a catalog of the test's own."""
    folder = tmp_path / "de" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "django.po").write_text(
        'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Your sign-in link"\nmsgstr "TEST-DE Anmeldelink"\n',
        encoding="utf-8",
    )
    compiled = subprocess.run(
        ["msgfmt", "-o", str(folder / "django.mo"), str(folder / "django.po")],
        capture_output=True,
        check=False,
    )
    assert compiled.returncode == 0, compiled.stderr
    settings.LOCALE_PATHS = [str(tmp_path)]
    ann.language = "de"

    german, _body = access.signin_link_mail(ann)
    ann.language = ""
    english, _body = access.signin_link_mail(ann)

    assert german == "TEST-DE Anmeldelink"
    assert english == "Your sign-in link"


def test_the_sign_in_page_offers_both_ways_and_takes_no_focus(client: Client) -> None:
    page = client.get(SIGNIN + "?next=/portal/settings/").content.decode()
    assert 'name="how" value="link"' in page
    assert 'name="how" value="password"' in page
    assert page.count('name="next" value="/portal/settings/"') == 2
    assert "autofocus" not in page
