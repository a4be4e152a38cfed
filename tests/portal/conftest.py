"""Fixtures of the portal's tests. Two helpers' sections: signing in ("access") and the
requester's tickets ("portal"); each adds only its own, under its heading."""

from __future__ import annotations

from collections.abc import Iterator

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
