"""Every event the portal records, and the functions that record them.

Each function is called inside the transaction of the change it describes
(``event_record`` refuses otherwise). The event log is append-only and kept forever, so
the payloads below are a contract: add keys, never rename or remove them. They carry
ids, never an e-mail address (personal data must stay erasable) and never a sign-in
link or token (a credential).

Signing in (subject: the user)
------------------------------
``portal.invited``
    The requester was mailed an invitation to the portal, with a sign-in link, because
    someone else opened a ticket for them (``portal.access``). ``ticket_id``: that
    ticket. Recorded once per person: it is also the record that says "already invited".
"""

from __future__ import annotations

from eventlog.services import event_record
from nixflow.models import Ticket, User

PORTAL_INVITED = "portal.invited"


def portal_invited(*, user: User, ticket: Ticket) -> None:
    event_record(
        type=PORTAL_INVITED,
        subject=user,
        actor=None,  # the desk invites; whoever opened the ticket is on ticket.created
        payload={"ticket_id": ticket.pk},
        ticket_key=ticket.key,
    )
