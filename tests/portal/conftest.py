"""Fixtures of the portal's tests. Two helpers' sections: signing in ("access") and the
requester's tickets ("portal"); each adds only its own, under its heading."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

# --- access: signing in, sign-in links, invitations ---------------------------------------


@pytest.fixture
def invitations() -> Iterator[None]:
    """The portal's ``ticket.created`` subscriber, registered as the app's ready() does
    (``portal.access.register``), and removed after the test."""
    from eventlog.subscribers import subscribers_of, unsubscribe
    from portal import access

    names = {s.name for s in subscribers_of("ticket.created")}
    already = access.INVITATION_SUBSCRIBER in names
    access.register()
    yield
    if not already:
        unsubscribe("ticket.created", name=access.INVITATION_SUBSCRIBER)


# --- portal: the requester's tickets, new requests, deflection ----------------------------

# A string written only in internal notes (and an internal note's file name): it must
# never reach a portal response.
INTERNAL_MARKER = "zq-portal-internal-5521"


@pytest.fixture
def portal_scene(db: None) -> Any:
    """Ana's ticket (a public reply of the desk, an internal note with a file, Wes
    watching it) and Ben's, made through the services as the desk would."""
    from types import SimpleNamespace

    from django.core.files.uploadedfile import SimpleUploadedFile

    from nixflow import services
    from nixflow.models import Role
    from tests.factories import UserFactory

    ana = UserFactory(username="ana", first_name="Ana", last_name="Alves", email="ana@example.com")
    ben = UserFactory(username="ben", first_name="Ben", email="ben@example.com")
    wes = UserFactory(username="wes", first_name="Wes", email="wes@example.com")
    ada = UserFactory(username="ada", first_name="Ada", role=Role.AGENT)
    ticket = services.ticket_create(
        requester=ana,
        title="Printer jams on every page",
        description="The third floor printer jams when printing duplex.",
        actor=ana,
    )
    reply = services.comment_create(
        ticket=ticket, author=ada, body="Please try the manual feed tray meanwhile."
    )
    note = services.comment_create(
        ticket=ticket,
        author=ada,
        body=f"Vendor contract expired, do not tell the requester. {INTERNAL_MARKER}",
        is_internal=True,
        attachments=[SimpleUploadedFile(f"{INTERNAL_MARKER}.txt", b"internal only\n")],
    )
    services.ticket_watch(ticket=ticket, user=wes, actor=ada)
    other = services.ticket_create(
        requester=ben, title="Ben's laptop battery swells", description="Scary.", actor=ben
    )
    ticket.refresh_from_db()
    return SimpleNamespace(
        ana=ana, ben=ben, wes=wes, ada=ada, ticket=ticket, reply=reply, note=note, other=other
    )
