"""Signing requesters in to the portal: one-time sign-in links, the mail that carries
them, invitations, and the person's own settings.

The links
---------
``/portal/signin/link/<uid>/<token>/``, where the token is built like Django's
password-reset token (``PasswordResetTokenGenerator``): a timestamp and an HMAC, under
``SECRET_KEY`` and a salt of this purpose only, of the account's id, password hash,
last sign-in time, active flag and e-mail address. So no table is needed, and a link

- cannot be forged or moved to another account;
- expires: ``PORTAL_SIGNIN_LINK_MINUTES`` (30) after it was made for a link someone
  asked for, ``PORTAL_INVITATION_DAYS`` (7) for an invitation (its own salt, so a
  sign-in link can never pass as a long-lived invitation);
- works once: signing in sets ``last_login``, which changes the HMAC, so the link (and
  every other link mailed before) stops working once the person signed in, through the
  link or with their password. Changing the password or the address, or deactivating
  the account, ends them too.

Opening a link shows a "Sign in" button; only the button (a POST) signs in, because
mail scanners fetch the links in messages they check.

Asking for a link
-----------------
The answer to "mail me a link" is the same page whether an account has the address or
not, and the request takes the same path: it queues ``send_signin_link`` with the
address in the outbox (``eventlog.outbox``) either way, and the worker looks the address
up. Nobody can learn from the page, its timing or its status who has an account here.
Asking is rate limited per address (``PORTAL_SIGNIN_LINK_ADDRESS_RATE``, 5 an hour) and
per client address (``PORTAL_SIGNIN_LINK_CLIENT_RATE``, 20 an hour), counted in the cache
like every other limit (``nixflow.security``).

Invitations
-----------
When someone else (an agent, the API, an admin; anyone but the requester) opens a ticket
for a requester who has never signed in and has no usable password, the requester is
mailed once an invitation with a sign-in link. The subscriber of ``ticket.created``
records ``portal.invited`` and queues the mail in its delivery transaction; the
``portal.invited`` event is the record that they were invited, so a second ticket
invites nobody. Like every credential the desk mails, the link is built by the worker
task from ids: it is never stored in the event log, the outbox or a stored message.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import Any
from urllib.parse import urlencode, urlsplit

from celery import Task, shared_task
from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.mail import EmailMessage
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import translation
from django.utils.crypto import constant_time_compare
from django.utils.encoding import force_bytes
from django.utils.http import (
    base36_to_int,
    url_has_allowed_host_and_scheme,
    urlsafe_base64_decode,
    urlsafe_base64_encode,
)
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from rest_framework.throttling import SimpleRateThrottle

from eventlog.models import EventLog
from eventlog.outbox import outbox_enqueue
from eventlog.subscribers import subscribe
from nixflow import events as core_events
from nixflow.models import Ticket, User
from nixflow.security import ClientAddressMixin
from nixflow.services import user_set_time_zone
from nixflow.toolkit.language import language_for
from nixflow.toolkit.services import changes_payload, model_update
from nixflow.toolkit.site import site_url
from portal import events

logger = logging.getLogger(__name__)

SEND_LINK_TASK = "portal.send_signin_link"
SEND_INVITATION_TASK = "portal.send_invitation"
INVITATION_SUBSCRIBER = "portal.invitation"

DEFAULT_LINK_MINUTES = 30
DEFAULT_INVITATION_DAYS = 7
DEFAULT_ADDRESS_RATE = "5/hour"
DEFAULT_CLIENT_RATE = "20/hour"


def link_minutes() -> int:
    return int(getattr(settings, "PORTAL_SIGNIN_LINK_MINUTES", DEFAULT_LINK_MINUTES))


def invitation_days() -> int:
    return int(getattr(settings, "PORTAL_INVITATION_DAYS", DEFAULT_INVITATION_DAYS))


# --- Tokens ----------------------------------------------------------------------------
class LinkState(Enum):
    VALID = "valid"
    EXPIRED = "expired"
    INVALID = "invalid"  # forged, altered, already used, or the account changed since


class SigninTokenGenerator(PasswordResetTokenGenerator):
    """Django's password-reset token with its own salt and lifetime, and a hash value
    that changes with every sign-in (``last_login`` to the microsecond: Django drops the
    microseconds, which would let a link outlive a sign-in in the same second)."""

    def __init__(self, *, purpose: str, max_age_seconds: Callable[[], int]) -> None:
        super().__init__()
        self.key_salt = f"portal.access.{purpose}"
        self._max_age_seconds = max_age_seconds

    def _make_hash_value(self, user: Any, timestamp: int) -> str:
        login = "" if user.last_login is None else user.last_login.isoformat()
        email = (user.email or "").lower()
        return f"{user.pk}|{user.password}|{login}|{timestamp}|{user.is_active}|{email}"

    def state(self, user: User, token: str) -> LinkState:
        """Whether ``token`` is ``user``'s, and still within its lifetime."""
        ts_b36, _sep, _hash = token.partition("-")
        try:
            timestamp = base36_to_int(ts_b36)
        except ValueError:
            return LinkState.INVALID
        for secret in [self.secret, *self.secret_fallbacks]:
            made = self._make_token_with_timestamp(user, timestamp, secret)
            if constant_time_compare(made, token):
                break
        else:
            return LinkState.INVALID
        age = self._num_seconds(self._now()) - timestamp
        return LinkState.VALID if 0 <= age <= self._max_age_seconds() else LinkState.EXPIRED


signin_tokens = SigninTokenGenerator(
    purpose="signin_link", max_age_seconds=lambda: link_minutes() * 60
)
invitation_tokens = SigninTokenGenerator(
    purpose="invitation", max_age_seconds=lambda: invitation_days() * 86400
)


@dataclass(frozen=True)
class LinkCheck:
    state: LinkState
    user: User | None = None


def link_path(*, user: User, token: str, next_url: str = "") -> str:
    path = reverse("portal:signin_link", args=[urlsafe_base64_encode(force_bytes(user.pk)), token])
    return path + ("?" + urlencode({"next": next_url}) if next_url else "")


def _links_refused(user: User) -> bool:
    """A mailed link is a way in beside the password: while single sign-on switches the
    staff's passwords off (sso, ``OIDC_STAFF_PASSWORDS``), it must not sign staff in
    either, or the switch would be a detour away from the provider's own checks."""
    from sso.backends import staff_passwords_refused

    return staff_passwords_refused(user)


def link_check(*, uidb64: str, token: str) -> LinkCheck:
    """What a link does: the account it signs in to, if it is valid. Only active
    accounts are signed in; an inactive account's links are invalid."""
    try:
        pk = int(urlsafe_base64_decode(uidb64).decode())
    except (ValueError, TypeError, UnicodeDecodeError, OverflowError):
        return LinkCheck(LinkState.INVALID)
    user = User.objects.filter(pk=pk).first()
    if user is None or not user.is_active or len(token) > 100 or _links_refused(user):
        return LinkCheck(LinkState.INVALID)
    states = {signin_tokens.state(user, token), invitation_tokens.state(user, token)}
    for state in (LinkState.VALID, LinkState.EXPIRED):
        if state in states:
            return LinkCheck(state, user if state is LinkState.VALID else None)
    return LinkCheck(LinkState.INVALID)


# --- Where to go after signing in -------------------------------------------------------
def safe_next(request: HttpRequest, url: str | None) -> str:
    """``url`` when it is a local address of this site, else ``""``."""
    if not url or len(url) > 2000:
        return ""
    if not url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return ""
    # Back to the sign-in pages would show a used link, or the form again.
    if urlsplit(url).path.startswith(reverse("portal:signin")):
        return ""
    return url


def local_next(url: str) -> str:
    """``url`` if it is a path on this site (what a mailed link may carry), else ``""``."""
    if url.startswith("/") and url_has_allowed_host_and_scheme(url, allowed_hosts=set()):
        return url[:2000]
    return ""


# --- Rate limits ------------------------------------------------------------------------
class _Throttle(ClientAddressMixin, SimpleRateThrottle):  # type: ignore[misc]
    setting = ""
    default = ""

    def get_rate(self) -> str:
        return str(getattr(settings, self.setting, self.default))


class SigninLinkClientThrottle(_Throttle):
    """Sign-in links asked for from one client address, whichever addresses it names."""

    scope = "portal_link_client"
    setting = "PORTAL_SIGNIN_LINK_CLIENT_RATE"
    default = DEFAULT_CLIENT_RATE

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class SigninLinkAddressThrottle(_Throttle):
    """Sign-in links asked for one e-mail address, from wherever: a mailbox is not
    flooded, whether an account has the address or not."""

    scope = "portal_link_address"
    setting = "PORTAL_SIGNIN_LINK_ADDRESS_RATE"
    default = DEFAULT_ADDRESS_RATE

    def __init__(self, email: str) -> None:
        # Hashed: the cache (files under var/ by default) needn't hold addresses.
        self.ident = hashlib.sha256(email.strip().lower().encode()).hexdigest()
        super().__init__()

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.ident}


def signin_link_throttled(request: HttpRequest, email: str) -> int | None:
    """None when a link may be sent; else the seconds to wait. Both limits count the
    request whether or not an account has the address."""
    for throttle in (SigninLinkClientThrottle(), SigninLinkAddressThrottle(email)):
        # The DRF stubs want a Request and a view; a Django request is all it reads.
        if not throttle.allow_request(request, None):  # type: ignore[arg-type]
            return max(1, int(throttle.wait() or 60))
    return None


# --- Asking for a link ------------------------------------------------------------------
def signin_link_request(*, email: str, next_url: str = "") -> None:
    """Queue the sign-in link for ``email``. The same whether an account has the
    address or not: the worker looks it up (no account enumeration, by the answer or by
    its timing). The queued message holds the address, never a link."""
    outbox_enqueue(
        task=SEND_LINK_TASK,
        kwargs={"email": email.strip()[:254], "next": local_next(next_url)},
    )


def _name(user: User) -> str:
    return user.get_full_name() or user.get_username()


def signin_link_mail(user: User, next_url: str = "") -> tuple[str, str]:
    """(subject, body) of a sign-in link for ``user``, in their language."""
    url = site_url(link_path(user=user, token=signin_tokens.make_token(user), next_url=next_url))
    minutes = link_minutes()
    with translation.override(language_for(user)):
        subject = _("Your sign-in link")
        lifetime = ngettext(
            "The link works once, for %(count)d minute.",
            "The link works once, for %(count)d minutes.",
            minutes,
        ) % {"count": minutes}
        body = "\n\n".join(
            [
                _("Hello %(name)s,") % {"name": _name(user)},
                _("someone, hopefully you, asked to sign in to the help desk's portal."),
                _("Open this link to sign in:") + f"\n\n    {url}",
                lifetime,
                _(
                    "If you did not ask for it, you can ignore this message: nobody can "
                    "sign in without the link."
                ),
            ]
        )
    return subject, body + "\n"


# Retried with backoff (5 s doubling) while the mail server fails; a link that arrives
# after its lifetime is useless, so not for long.
MAX_RETRIES = 5


def _send(task: Task, *, user: User, subject: str, body: str) -> str:
    # Auto-Submitted: an out-of-office reply to it would be a mail loop (RFC 3834).
    message = EmailMessage(
        subject=subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
        headers={"Content-Language": language_for(user), "Auto-Submitted": "auto-generated"},
    )
    try:
        message.send(fail_silently=False)
    except (smtplib.SMTPException, OSError) as error:
        if task.request.retries < MAX_RETRIES:
            raise task.retry(exc=error, countdown=5 * 2**task.request.retries) from None
        logger.error("Portal mail to user %s given up: %s", user.pk, error)
        return "failed"
    return "sent"


@shared_task(name=SEND_LINK_TASK, bind=True, max_retries=MAX_RETRIES)
def send_signin_link(self: Task, email: str, next: str = "") -> str:
    user = User.objects.filter(email__iexact=email.strip()).exclude(email="").first()
    if user is None or not user.is_active or _links_refused(user):
        return "nobody to mail"  # nothing tells the person who asked
    subject, body = signin_link_mail(user, local_next(next))
    return _send(self, user=user, subject=subject, body=body)


# --- Invitations -----------------------------------------------------------------------
def invitable(user: User | None) -> bool:
    """Someone the portal may invite: active, reachable, and never signed in, with no
    password of their own."""
    return (
        user is not None
        and user.is_active
        and bool(user.email)
        and user.last_login is None
        and not user.has_usable_password()
    )


def invite_requester(event: EventLog) -> None:
    """``ticket.created`` subscriber: invite a requester someone else opened a ticket
    for. Runs in the delivery's transaction, so the event and the queued mail commit
    with the delivery record, or neither does."""
    ticket = Ticket.objects.filter(pk=event.subject_id).first()
    if ticket is None or event.actor_id == ticket.requester_id:
        return  # gone, or the requester opened it themselves (mail, form, portal)
    # Locked: two tickets opened at once for the same person invite them once.
    requester = User.objects.select_for_update().filter(pk=ticket.requester_id).first()
    if requester is None or not invitable(requester):
        return
    if EventLog.objects.filter(
        type=events.PORTAL_INVITED,
        subject_app="nixflow",
        subject_model="user",
        subject_id=str(requester.pk),
    ).exists():
        return
    events.portal_invited(user=requester, ticket=ticket)
    outbox_enqueue(
        task=SEND_INVITATION_TASK,
        kwargs={"user_id": requester.pk, "ticket_id": ticket.pk},
        key=f"{INVITATION_SUBSCRIBER}:{requester.pk}",
    )


def invitation_mail(user: User, ticket: Ticket) -> tuple[str, str]:
    """(subject, body) of the invitation to the portal, in ``user``'s language."""
    path = reverse("portal:tickets") if _has_ticket_list() else ""
    url = site_url(link_path(user=user, token=invitation_tokens.make_token(user), next_url=path))
    days = invitation_days()
    # Folded to one line: a line break in a header would make every attempt fail.
    title = " ".join(ticket.title.split())
    with translation.override(language_for(user)):
        subject = _("[%(key)s] Follow your request online") % {"key": ticket.key}
        lifetime = ngettext(
            "The link signs you in once and works for %(count)d day. After that, ask for "
            "a new link on the sign-in page: %(signin)s",
            "The link signs you in once and works for %(count)d days. After that, ask for "
            "a new link on the sign-in page: %(signin)s",
            days,
        ) % {"count": days, "signin": site_url(reverse("portal:signin"))}
        body = "\n\n".join(
            [
                _("Hello %(name)s,") % {"name": _name(user)},
                _("the help desk opened the request %(key)s for you: %(title)s")
                % {"key": ticket.key, "title": title},
                _(
                    "You can follow it, reply and add files on the help desk's portal. "
                    "Open this link to sign in:"
                )
                + f"\n\n    {url}",
                lifetime,
            ]
        )
    return subject, body + "\n"


@cache
def _has_ticket_list() -> bool:
    from django.urls import NoReverseMatch

    try:
        reverse("portal:tickets")
    except NoReverseMatch:
        return False
    return True


@shared_task(name=SEND_INVITATION_TASK, bind=True, max_retries=MAX_RETRIES)
def send_invitation(self: Task, user_id: int, ticket_id: int) -> str:
    user = User.objects.filter(pk=user_id).first()
    ticket = Ticket.objects.filter(pk=ticket_id).first()
    if ticket is None or user is None or not invitable(user):
        return "not invitable"  # signed in, set a password or was deactivated meanwhile
    subject, body = invitation_mail(user, ticket)
    return _send(self, user=user, subject=subject, body=body)


# --- The person's own settings ------------------------------------------------------------
ACCOUNT_FIELDS = frozenset({"first_name", "last_name", "language"})


@transaction.atomic
def account_update(*, user: User, data: dict[str, str]) -> User:
    """A person changes their own name, language and time zone (the portal's settings
    page); ``user.updated`` records what changed, as for staff's changes."""
    time_zone = data.pop("time_zone", None)
    locked = User.objects.select_for_update().get(pk=user.pk)
    changes = model_update(instance=locked, data=data, allowed=ACCOUNT_FIELDS)
    if changes:
        core_events.record_user_event(
            type=core_events.USER_UPDATED,
            user=locked,
            actor=locked,
            payload={"fields": sorted(changes), "changes": changes_payload(changes)},
        )
    if time_zone is not None:
        locked = user_set_time_zone(user=locked, time_zone=time_zone, actor=locked)
    return locked


@cache
def time_zone_names() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def register() -> None:
    """Called from the portal's ``AppConfig.ready()``."""
    subscribe("ticket.created", name=INVITATION_SUBSCRIBER)(invite_requester)
