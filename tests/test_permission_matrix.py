"""The permission matrix: every route of the URLconf, for anonymous callers, requester
A, requester B, an agent and an admin (the role; superusers are not in the matrix).

The routes come from the resolver (tests/support/matrix.py), so a new route fails
``test_every_route_is_in_the_matrix`` until it is classified below, and a new ModelAdmin
fails ``test_every_model_admin_is_in_the_matrix`` until ADMIN_MODELS says what agents and
admins may do with it. Each expectation names the outcome per actor: 2xx, 401/403, 404
(someone else's object, or one that is not for this reader: answered as if it did not
exist), 405, or for the admin and the HTML pages a redirect to the login page. Writes
send a valid request, so "2xx" means the change went through. The desk is seeded once
per module in a transaction that is never committed; each case runs in a savepoint of
it, rolled back after.

Every response is also searched for text its reader must never see: requester B's
tickets, comments, submissions and mail for requester A and the other way round;
internal comments, internal and draft articles and draft forms for requesters and
anonymous callers; a stored mail password for anyone; and on the requester side (the
portal, the survey pages, the help center, the forms, the language chooser) the
internal note on A's ticket for anyone, staff included. The lists are checked for exactly
what each actor should find, the admin's bulk actions for what each role may do, and
every admin page for a requester who was made staff by mistake.

Routes that are intentionally public (anonymous callers get 2xx):
- ``/healthz``, ``/readyz``: probes for load balancers and orchestrators, which
  call them without credentials;
- ``/api/auth/token/``, ``/admin/login/``, ``/forms/login/``: where one signs in;
- ``/api/schema/``, ``/api/docs/``: the API's description, which holds no data;
- ``/api/knowledge/…`` reads: published public articles, categories, tags and search are
  a portal read before anyone signs in (published public articles are for
  everyone); the click of a search is recorded for any reader of the article;
- ``/api/forms/{slug}/schema/`` and ``submit/``, ``/forms/…``: a public form is filled in
  by anyone, who gives an e-mail address instead of signing in; login-required
  forms are not;
- ``/help/…``: the help center's pages show published public articles to everyone
  (internal ones to staff); anonymous readers answer "Was this helpful?" (once per
  reader) and send feedback; the first release's ``/help/a/…`` and ``/help/c/…`` are a
  301 to today's address for any slug;
- ``/portal/signin/``, ``/portal/signin/link/…``, ``/portal/signout/``: where one signs
  in and out of the portal; a mailed link's token is the key (a forged one is a 404,
  an old one a 410, for everyone). The portal's other pages send anonymous visitors to
  ``/portal/signin/?next=…`` (classify() calls that "login");
- ``/satisfaction/{token}/…``: the survey pages, opened from the mail without signing
  in: the signed token is the key, for whoever holds the link (a made-up token is a
  400 for everyone, a survey past its time a 410);
- ``/language/``: the language chooser, a reader's own browser setting (for someone
  signed in, their account's language too).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DataError, transaction
from django.http import HttpResponseBase
from django.test import Client, override_settings
from django.urls import resolve

from api_tokens.areas import ANY as ANY_TOKEN
from api_tokens.areas import PUBLIC as NO_SCOPE
from api_tokens.areas import required_scope
from forms_builder.models import FormStatus, FormSubmission
from knowledge.models import KnowledgeArticle, KnowledgeArticleStatus, Visibility
from nixflow.models import Tag
from reports.selectors import REPORTS
from tests.support.matrix import (
    ACTORS,
    CONFLICT,
    DENIED,
    GONE,
    HIDDEN,
    INVALID,
    LOGIN,
    NOT_ALLOWED,
    OK,
    PASSWORD,
    PNG,
    TO_INDEX,
    TOKEN_ACTORS,
    WRITE_METHODS,
    Outcome,
    Route,
    Row,
    World,
    body_text,
    classify,
    discover_routes,
    display,
    fill,
    forbidden_markers,
    rule_definition,
    seed_world,
)

pytestmark = pytest.mark.django_db

# --- Rows -------------------------------------------------------------------------------
# One outcome per actor: anonymous, requester A, requester B, agent, admin.
EVERYONE = Row(OK, OK, OK, OK, OK)
SIGNED_IN = Row(DENIED, OK, OK, OK, OK)
OWNER = Row(DENIED, OK, HIDDEN, OK, OK)  # requester A's object
OWNER_B = Row(DENIED, HIDDEN, OK, OK, OK)  # requester B's object
AGENTS = Row(DENIED, DENIED, DENIED, OK, OK)
AGENTS_ON_A = Row(DENIED, DENIED, HIDDEN, OK, OK)  # A's object: B can't tell it exists
# A body naming another user: to a requester, as if no user had that id (400), so that
# trying ids tells nobody which accounts exist.
OTHERS_ID = Row(DENIED, INVALID, INVALID, OK, OK)
OTHERS_ID_ON_A = Row(DENIED, INVALID, HIDDEN, OK, OK)
ADMINS = Row(DENIED, DENIED, DENIED, DENIED, OK)
STAFF_READ = Row(HIDDEN, HIDDEN, HIDDEN, OK, OK)  # internal or draft, on an open route
STAFF_OF_A = Row(DENIED, HIDDEN, HIDDEN, OK, OK)  # the same, on a signed-in route
NOBODY = Row(HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN)
ALL_INVALID = Row(INVALID, INVALID, INVALID, INVALID, INVALID)
ALL_NOT_ALLOWED = Row(NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED)
# The admin: anyone who is not staff is sent to its login page.
STAFF = Row(LOGIN, LOGIN, LOGIN, OK, OK)
STAFF_404 = Row(LOGIN, LOGIN, LOGIN, HIDDEN, HIDDEN)
NOT_VIA_GET = Row(LOGIN, LOGIN, LOGIN, DENIED, DENIED)
# A staff view that takes one method: 405 to the others, once signed in.
ONE_METHOD = Row(LOGIN, LOGIN, LOGIN, NOT_ALLOWED, NOT_ALLOWED)
ADMIN_ROLE = Row(LOGIN, LOGIN, LOGIN, DENIED, OK)
# Every kind of notification (notifications.models.Kind), as a PUT of preferences names them.
# A search click's token that no search had: the click is not counted, the reader still
# gets the article (helpcenter.views).
SEARCH_TOKEN = "00000000-0000-4000-8000-000000000000"
NOTIFICATION_KINDS = [
    "assigned",
    "mentioned",
    "requester_replied",
    "sla_breached",
    "sla_at_risk",
    "stage_changed",
]
ADMIN_NOBODY = Row(LOGIN, LOGIN, LOGIN, DENIED, DENIED)  # an admin page no role may use
TOKEN_OF_A = Row(DENIED, OK, HIDDEN, HIDDEN, OK)  # requester A's own integration token


# --- Requests ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Multipart:
    data: dict[str, Any]


@dataclass(frozen=True)
class Raw:
    content: bytes
    content_type: str


Params = dict[str, Any]
Body = dict[str, Any] | Multipart | Raw | None


@dataclass(frozen=True)
class Entry:
    """What each actor gets from ``pattern`` opened at ``target`` (``note`` tells targets
    of one pattern apart), per method; ``bodies`` are the requests' payloads."""

    pattern: str
    expect: dict[str, Row]
    target: Callable[[World], Params] = lambda world: {}
    note: str = ""
    bodies: dict[str, Callable[[World], Body]] = field(default_factory=dict)
    # A known bug in the code under test: (what goes wrong, the actors it hits). Their
    # cases are expected to fail (strictly: once fixed, they fail until this goes).
    bug: tuple[str, frozenset[str]] | None = None


def entry(
    pattern: str,
    note: str = "",
    *,
    at: Callable[[World], Params] | None = None,
    body: Callable[[World], Body] | None = None,
    bug: tuple[str, str] | None = None,
    **expect: Row,
) -> Entry:
    """``entry(pattern, note, at=target, body=payload, GET=row, POST=row, ...)``; one
    body serves every write method of the entry. ``bug=(reason, "actor actor")`` marks
    a known bug of the code under test, reported to its owner."""
    bodies = {method: body for method in expect if method != "GET" and body is not None}
    known = None if bug is None else (bug[0], frozenset(bug[1].split()))
    return Entry(pattern, expect, at or (lambda world: {}), note, bodies, known)


def json_body(**values: Any) -> Callable[[World], Body]:
    return lambda world: values


# Targets
def ticket_a(w: World) -> Params:
    return {"key": w.ticket_a.key}


def ticket_b(w: World) -> Params:
    return {"key": w.ticket_b.key}


def resolved_ticket_a(w: World) -> Params:
    return {"key": w.ticket_a_resolved.key}


def pk(name: str) -> Callable[[World], Params]:
    def target(w: World) -> Params:
        value = getattr(w, name)
        return {"pk": value if isinstance(value, int) else value.pk}

    return target


def core_tag(w: World) -> Params:
    """A tag of the core (the world's ``tag`` is the knowledge base's)."""
    return {"pk": Tag.objects.get_or_create(name="matrix")[0].pk}


def slug(name: str) -> Callable[[World], Params]:
    return lambda w: {"slug": getattr(w, name).slug}


def article(name: str, **more: Callable[[World], Any]) -> Callable[[World], Params]:
    return lambda w: {"pk": getattr(w, name).pk, **{k: f(w) for k, f in more.items()}}


def inbound_mail(w: World) -> Body:
    return Raw(
        b"From: newcomer@matrix.test\r\nTo: help@matrix.test\r\nSubject: Hello\r\n"
        b"Message-ID: <matrix-inbound@matrix.test>\r\n\r\nMy mouse is gone.\r\n",
        "message/rfc822",
    )


def form_definition(name: str, slug: str) -> Callable[[World], Body]:
    return json_body(
        name=name,
        slug=slug,
        description_field="details",
        fields=[{"key": "details", "label": "What happens?", "type": "text", "required": True}],
    )


# --- The API ----------------------------------------------------------------------------
API = [
    # Signing in, and the API's description.
    entry(
        "/api/auth/token/",
        "right password",
        POST=EVERYONE,
        body=lambda w: {"username": w.users["requester_a"].username, "password": PASSWORD},
    ),
    entry(
        "/api/auth/token/",
        "wrong password",
        POST=ALL_INVALID,
        body=lambda w: {"username": w.users["requester_a"].username, "password": "guess"},
    ),
    entry("/api/schema/", GET=EVERYONE),
    entry("/api/docs/", GET=EVERYONE),
    # Agents set their own availability; requesters have none.
    entry("/api/me/", GET=SIGNED_IN, PATCH=AGENTS, body=json_body(availability="away")),
    # The core: tickets are A's own; B is answered as if they did not exist.
    entry(
        "/api/tickets/",
        GET=SIGNED_IN,
        POST=SIGNED_IN,
        body=json_body(title="Matrix ticket", description="The scanner is slow."),
    ),
    entry(
        "/api/tickets/",
        "for requester B",
        POST=Row(DENIED, INVALID, OK, OK, OK),
        body=lambda w: {"title": "On behalf", "requester": w.users["requester_b"].pk},
    ),
    entry(
        "/api/tickets/",
        "assigned",
        POST=OTHERS_ID,
        body=lambda w: {"title": "Assigned", "assignee": w.users["agent"].pk},
    ),
    entry(
        "/api/tickets/{key}/",
        at=ticket_a,
        GET=OWNER,
        PATCH=OWNER,
        body=json_body(title="Printer still jams"),
    ),
    entry(
        "/api/tickets/{key}/",
        "priority",
        at=ticket_a,
        PATCH=AGENTS_ON_A,
        body=json_body(priority="HIGH"),
    ),
    entry(
        "/api/tickets/{key}/assign/",
        at=ticket_a,
        POST=OTHERS_ID_ON_A,
        body=lambda w: {"assignee": w.users["agent"].pk},
    ),
    entry(
        "/api/tickets/{key}/attachments/{attachment_id}/",
        "public comment",
        at=lambda w: {**ticket_a(w), "attachment_id": w.attachment_public_a},
        GET=OWNER,
    ),
    entry(
        "/api/tickets/{key}/attachments/{attachment_id}/",
        "internal comment",
        at=lambda w: {**ticket_a(w), "attachment_id": w.attachment_internal_a},
        GET=STAFF_OF_A,
    ),
    entry(
        "/api/tickets/{key}/attachments/{attachment_id}/",
        "another ticket's file",
        at=lambda w: {**resolved_ticket_a(w), "attachment_id": w.attachment_public_a},
        GET=Row(DENIED, HIDDEN, HIDDEN, HIDDEN, HIDDEN),
    ),
    entry(
        "/api/tickets/{key}/comments/",
        at=ticket_a,
        GET=OWNER,
        POST=OWNER,
        body=json_body(body="Any news?"),
    ),
    entry(
        "/api/tickets/{key}/comments/",
        "internal",
        at=ticket_a,
        POST=AGENTS_ON_A,
        body=json_body(body="A note for colleagues.", is_internal=True),
    ),
    entry("/api/tickets/{key}/history/", at=ticket_a, GET=OWNER),
    # And the other way round: requester A asking for B's.
    entry("/api/tickets/{key}/", "B's", at=ticket_b, GET=OWNER_B),
    entry("/api/tickets/{key}/comments/", "B's", at=ticket_b, GET=OWNER_B),
    entry("/api/tickets/{key}/history/", "B's", at=ticket_b, GET=OWNER_B),
    entry("/api/tickets/{key}/watchers/", "B's", at=ticket_b, GET=OWNER_B),
    entry(
        "/api/tickets/{key}/transition/",
        "agents' transition",
        at=ticket_a,
        POST=AGENTS_ON_A,
        body=lambda w: {"stage": w.stage_open.pk},
    ),
    entry(
        "/api/tickets/{key}/transition/",
        "requester-allowed reopen",
        at=resolved_ticket_a,
        POST=OWNER,
        body=lambda w: {"stage": w.stage_open.pk},
    ),
    entry(
        "/api/tickets/{key}/watchers/",
        "the caller",
        at=ticket_a,
        GET=OWNER,
        POST=OWNER,
        DELETE=OWNER,
        body=json_body(),
    ),
    entry(
        "/api/tickets/{key}/watchers/",
        "another user",
        at=ticket_a,
        POST=OTHERS_ID_ON_A,
        DELETE=OTHERS_ID_ON_A,
        body=lambda w: {"user": w.users["requester_b"].pk},
    ),
    # Workflows: everyone signed in reads them (clients show the lifecycle); admins
    # change them.
    entry(
        "/api/workflows/",
        GET=SIGNED_IN,
        POST=ADMINS,
        body=json_body(
            name="Matrix workflow", stages=[{"name": "Reported", "category": "NEW", "position": 1}]
        ),
    ),
    entry(
        "/api/workflows/{pk}/",
        at=pk("workflow"),
        GET=SIGNED_IN,
        PUT=ADMINS,
        PATCH=ADMINS,
        body=lambda w: {
            "name": w.workflow.name,
            "description": "Changed by the matrix.",
            "stages": [
                {"id": s.pk, "name": s.name, "category": s.category, "position": s.position}
                for s in w.workflow.stages.all()
            ],
        },
    ),
    # The desk's workflow has tickets: admins are let in, and told it can't go.
    entry(
        "/api/workflows/{pk}/",
        "in use",
        at=pk("workflow"),
        DELETE=Row(DENIED, DENIED, DENIED, DENIED, CONFLICT),
    ),
    # Teams: agents read them, admins change them; routing rules are admins' only.
    entry("/api/teams/", GET=AGENTS, POST=ADMINS, body=json_body(name="Matrix team two")),
    entry(
        "/api/teams/{pk}/",
        at=pk("team"),
        GET=AGENTS,
        PUT=ADMINS,
        PATCH=ADMINS,
        DELETE=ADMINS,
        body=json_body(name="Matrix team renamed"),
    ),
    entry(
        "/api/routing-rules/",
        GET=ADMINS,
        POST=ADMINS,
        body=lambda w: {"name": "Matrix rule two", "team": w.team.pk},
    ),
    entry(
        "/api/routing-rules/{pk}/",
        at=pk("routing_rule"),
        GET=ADMINS,
        PUT=ADMINS,
        PATCH=ADMINS,
        DELETE=ADMINS,
        body=lambda w: {"name": "Matrix rule renamed", "team": w.team.pk},
    ),
    # Views: every agent has the built-in ones and saves their own; a personal view is
    # its owner's (anyone else, an admin included, is told it does not exist).
    entry("/api/views/", GET=AGENTS, POST=AGENTS, body=json_body(name="Matrix view two")),
    entry(
        "/api/views/{pk}/",
        at=pk("saved_view"),
        PATCH=Row(DENIED, DENIED, DENIED, OK, HIDDEN),
        DELETE=Row(DENIED, DENIED, DENIED, OK, HIDDEN),
        body=json_body(name="Matrix view renamed"),
    ),
    entry(
        "/api/views/{pk}/tickets/",
        at=pk("saved_view"),
        GET=Row(DENIED, DENIED, DENIED, OK, HIDDEN),
    ),
    # Tags: agents read the list and its lock, admins change both (agents tag tickets
    # through PATCH /api/tickets/{key}/).
    entry("/api/tags/", GET=AGENTS, POST=ADMINS, body=json_body(name="Matrix tag two")),
    entry(
        "/api/tags/{pk}/",
        at=core_tag,
        GET=AGENTS,
        PATCH=ADMINS,
        DELETE=ADMINS,
        body=json_body(name="Matrix tag renamed"),
    ),
    entry(
        "/api/tags/settings/",
        GET=AGENTS,
        PATCH=ADMINS,
        body=json_body(tags_locked=True),
    ),
    # The event log and mail: staff only, read-only.
    entry("/api/events/", GET=AGENTS),
    entry("/api/events/{pk}/", at=pk("event_a"), GET=AGENTS),
    entry(
        "/api/email/inbound/{account_id}/",
        at=lambda w: {"account_id": w.account.pk},
        POST=AGENTS,
        body=inbound_mail,
    ),
    entry(
        "/api/email/accounts/",
        GET=AGENTS,
        POST=ADMINS,
        body=json_body(name="Matrix sales", address="sales@matrix.test", protocol="NONE"),
    ),
    entry(
        "/api/email/accounts/{pk}/",
        at=pk("account"),
        GET=AGENTS,
        PUT=ADMINS,
        PATCH=ADMINS,
        body=json_body(name="Matrix help desk", address="help@matrix.test", protocol="NONE"),
    ),
    entry("/api/email/accounts/{pk}/", "unused", at=pk("account_spare"), DELETE=ADMINS),
    entry("/api/email/messages/", GET=AGENTS),
    entry("/api/email/messages/{pk}/", at=pk("mail_a"), GET=AGENTS),
    # Only a suspended message can be released or rejected: mail_a was processed.
    entry(
        "/api/email/messages/{pk}/release/",
        at=pk("mail_a"),
        POST=Row(DENIED, DENIED, DENIED, CONFLICT, CONFLICT),
    ),
    entry(
        "/api/email/messages/{pk}/reject/",
        at=pk("mail_a"),
        POST=Row(DENIED, DENIED, DENIED, CONFLICT, CONFLICT),
    ),
    # Only a failed outbound message can be sent again: mail_a is an inbound one.
    entry(
        "/api/email/messages/{pk}/resend/",
        at=pk("mail_a"),
        POST=Row(DENIED, DENIED, DENIED, CONFLICT, CONFLICT),
    ),
    # SLA: figures for staff; configuration changed by admins.
    entry("/api/sla/summary/", GET=AGENTS),
    entry(
        "/api/sla/policies/",
        GET=AGENTS,
        POST=ADMINS,
        body=json_body(name="Matrix new policy", order=40, is_active=False),
    ),
    entry(
        "/api/sla/policies/{pk}/",
        at=pk("policy"),
        GET=AGENTS,
        PUT=ADMINS,
        PATCH=ADMINS,
        body=lambda w: {"name": "Matrix standard", "order": 1, "calendar": w.calendar.pk},
    ),
    entry("/api/sla/policies/{pk}/", "unused", at=pk("policy_spare"), DELETE=ADMINS),
    entry(
        "/api/sla/calendars/",
        GET=AGENTS,
        POST=ADMINS,
        body=json_body(name="Matrix new calendar", time_zone="Europe/Berlin"),
    ),
    entry(
        "/api/sla/calendars/{pk}/",
        at=pk("calendar"),
        GET=AGENTS,
        PUT=ADMINS,
        PATCH=ADMINS,
        body=json_body(name="Matrix 24x7", time_zone="UTC"),
    ),
    entry("/api/sla/calendars/{pk}/", "unused", at=pk("calendar_spare"), DELETE=ADMINS),
    entry("/api/sla/metrics/", GET=AGENTS),
    entry("/api/sla/metrics/{pk}/", at=pk("metric_a"), GET=AGENTS),
    entry("/api/sla/breaches/", GET=AGENTS),
    entry("/api/sla/breaches/{pk}/", at=pk("breach_a"), GET=AGENTS),
    entry(
        "/api/sla/breaches/{pk}/acknowledge/",
        at=pk("breach_a"),
        POST=AGENTS,
        body=json_body(note="Seen."),
    ),
    # Notifications: each agent's own (another's is not found, the admin's included).
    entry("/api/notifications/", GET=AGENTS),
    entry(
        "/api/notifications/{pk}/read/",
        at=pk("notification_agent"),
        POST=Row(DENIED, DENIED, DENIED, OK, HIDDEN),
    ),
    entry(
        "/api/notifications/{pk}/unread/",
        at=pk("notification_agent"),
        POST=Row(DENIED, DENIED, DENIED, OK, HIDDEN),
    ),
    entry("/api/notifications/read_all/", POST=AGENTS),
    entry(
        "/api/notifications/preferences/",
        GET=AGENTS,
        PUT=AGENTS,
        PATCH=AGENTS,
        body=json_body(
            preferences=[
                {"kind": kind, "in_admin": True, "email": False} for kind in NOTIFICATION_KINDS
            ]
        ),
    ),
    # Forms: agents design them; published public ones are filled in by anyone.
    entry(
        "/api/forms/",
        GET=SIGNED_IN,
        POST=AGENTS,
        body=form_definition("Request a monitor", "matrix-monitor"),
    ),
    entry(
        "/api/forms/{slug}/",
        "published",
        at=slug("form_public"),
        GET=SIGNED_IN,
        PUT=AGENTS,
        PATCH=AGENTS,
        body=form_definition("Report a problem", "matrix-problem"),
    ),
    # A form with submissions is archived, not deleted: the draft has none.
    entry("/api/forms/{slug}/", "draft", at=slug("form_draft"), GET=STAFF_OF_A, DELETE=AGENTS),
    entry("/api/forms/{slug}/schema/", "public", at=slug("form_public"), GET=EVERYONE),
    entry("/api/forms/{slug}/schema/", "login required", at=slug("form_login"), GET=SIGNED_IN),
    entry("/api/forms/{slug}/schema/", "draft", at=slug("form_draft"), GET=NOBODY),
    entry(
        "/api/forms/{slug}/status/",
        at=slug("form_public"),
        POST=AGENTS,
        body=json_body(status=FormStatus.ARCHIVED),
    ),
    entry(
        "/api/forms/{slug}/submit/",
        "public",
        at=slug("form_public"),
        POST=EVERYONE,
        body=json_body(details="The scanner is slow.", submitter_email="walk-in@matrix.test"),
    ),
    entry(
        "/api/forms/{slug}/submit/",
        "login required",
        at=slug("form_login"),
        POST=SIGNED_IN,
        body=json_body(details="A laptop, please."),
    ),
    entry(
        "/api/forms/{slug}/submit/",
        "draft",
        at=slug("form_draft"),
        POST=NOBODY,
        body=json_body(details="Too early.", submitter_email="walk-in@matrix.test"),
    ),
    entry("/api/forms/submissions/", GET=SIGNED_IN),
    entry("/api/forms/submissions/{pk}/", at=pk("submission_a"), GET=OWNER),
    entry("/api/forms/submissions/{pk}/", "B's", at=pk("submission_b"), GET=OWNER_B),
    entry(
        "/api/forms/submissions/{pk}/convert/",
        at=pk("submission_a_failed"),
        POST=AGENTS,
        body=lambda w: None,
    ),
    entry(
        "/api/forms/submissions/{pk}/reject/",
        at=pk("submission_a_failed"),
        POST=AGENTS,
        body=json_body(reason="Spam."),
    ),
    # Knowledge: published public articles for everyone; the rest for staff.
    entry("/api/knowledge/search/", at=lambda w: {"?": "q=printer jams"}, GET=EVERYONE),
    entry(
        "/api/knowledge/search/{search_id}/click/",
        "public article",
        at=lambda w: {"search_id": w.search_a.token},
        POST=EVERYONE,
        body=lambda w: {"article": w.article_public.pk},
    ),
    entry(
        "/api/knowledge/search/{search_id}/click/",
        "internal article",
        at=lambda w: {"search_id": w.search_a.token},
        POST=Row(INVALID, INVALID, INVALID, OK, OK),
        body=lambda w: {"article": w.article_internal.pk},
    ),
    entry(
        "/api/knowledge/suggestions/",
        at=lambda w: {"?": f"ticket={w.ticket_a.key}"},
        GET=OWNER,
    ),
    entry(
        "/api/knowledge/suggestions/",
        "B's ticket",
        at=lambda w: {"?": f"ticket={w.ticket_b.key}"},
        GET=OWNER_B,
    ),
    entry(
        "/api/knowledge/articles/",
        GET=EVERYONE,
        POST=AGENTS,
        body=json_body(title="Scanner is slow", body="Restart it."),
    ),
    entry(
        "/api/knowledge/articles/{pk}/",
        "public",
        at=article("article_public"),
        GET=EVERYONE,
        PATCH=AGENTS,
        body=json_body(summary="Clearing a jam."),
    ),
    entry(
        "/api/knowledge/articles/{pk}/",
        "internal",
        at=article("article_internal"),
        GET=STAFF_READ,
        PATCH=AGENTS,
        body=json_body(summary="Escalation."),
    ),
    entry(
        "/api/knowledge/articles/{pk}/",
        "draft",
        at=article("article_draft"),
        GET=STAFF_READ,
        DELETE=AGENTS,
    ),
    entry(
        "/api/knowledge/articles/{pk}/attachments/{attachment_id}/",
        "public article",
        at=article("article_public", attachment_id=lambda w: w.kb_attachment_public),
        GET=EVERYONE,
    ),
    entry(
        "/api/knowledge/articles/{pk}/attachments/{attachment_id}/",
        "internal article",
        at=article("article_internal", attachment_id=lambda w: w.kb_attachment_internal),
        GET=STAFF_READ,
    ),
    entry(
        "/api/knowledge/articles/{pk}/attachments/{attachment_id}/",
        "another article's file",
        at=article("article_public", attachment_id=lambda w: w.kb_attachment_internal),
        GET=NOBODY,
    ),
    entry(
        "/api/knowledge/articles/{pk}/attachments/",
        "public article",
        at=article("article_public"),
        GET=EVERYONE,
        POST=AGENTS,
        body=lambda w: Multipart({"file": SimpleUploadedFile("more.png", PNG, "image/png")}),
    ),
    entry(
        "/api/knowledge/articles/{pk}/attachments/",
        "internal article",
        at=article("article_internal"),
        GET=STAFF_READ,
    ),
    entry(
        "/api/knowledge/articles/{pk}/diff/",
        at=lambda w: {"pk": w.article_public.pk, "?": "from_version=1"},
        GET=AGENTS,
    ),
    entry(
        "/api/knowledge/articles/{pk}/feedback/",
        "public article",
        at=article("article_public"),
        GET=AGENTS,
        POST=SIGNED_IN,
        body=json_body(comment="Step three is missing."),
    ),
    entry(
        "/api/knowledge/articles/{pk}/feedback/",
        "internal article",
        at=article("article_internal"),
        POST=STAFF_OF_A,
        body=json_body(comment="Step three is missing."),
    ),
    entry(
        "/api/knowledge/articles/{pk}/rate/",
        "public article",
        at=article("article_public"),
        GET=SIGNED_IN,
        POST=SIGNED_IN,
        body=json_body(helpful=True),
    ),
    entry(
        "/api/knowledge/articles/{pk}/rate/",
        "internal article",
        at=article("article_internal"),
        GET=STAFF_OF_A,
        POST=STAFF_OF_A,
        body=json_body(helpful=True),
    ),
    entry(
        "/api/knowledge/articles/{pk}/restore/",
        at=article("article_public"),
        POST=AGENTS,
        body=json_body(version=1),
    ),
    entry(
        "/api/knowledge/articles/{pk}/tickets/",
        at=article("article_public"),
        GET=AGENTS,
        POST=AGENTS,
        DELETE=AGENTS,
        body=lambda w: {"ticket": w.ticket_a.key},
    ),
    entry(
        "/api/knowledge/articles/{pk}/transition/",
        at=article("article_public"),
        POST=AGENTS,
        body=json_body(status=KnowledgeArticleStatus.ARCHIVED),
    ),
    entry("/api/knowledge/articles/{pk}/versions/", at=article("article_public"), GET=AGENTS),
    entry(
        "/api/knowledge/articles/{pk}/versions/{number}/",
        at=article("article_public", number=lambda w: 1),
        GET=AGENTS,
    ),
    entry(
        "/api/knowledge/categories/",
        GET=EVERYONE,
        POST=AGENTS,
        body=json_body(name="Scanning"),
    ),
    entry(
        "/api/knowledge/categories/{pk}/",
        at=pk("category"),
        GET=EVERYONE,
        PATCH=AGENTS,
        body=json_body(description="Printers and toner."),
    ),
    entry("/api/knowledge/categories/{pk}/", "unused", at=pk("category_spare"), DELETE=AGENTS),
    entry("/api/knowledge/tags/", GET=EVERYONE, POST=AGENTS, body=json_body(name="scanner")),
    entry(
        "/api/knowledge/tags/{pk}/",
        at=pk("tag"),
        GET=EVERYONE,
        PATCH=AGENTS,
        body=json_body(name="printers"),
    ),
    entry("/api/knowledge/tags/{pk}/", "unused", at=pk("tag_spare"), DELETE=AGENTS),
    entry("/api/knowledge/feedback/", GET=AGENTS),
    entry("/api/knowledge/feedback/{pk}/", at=pk("feedback_a"), GET=AGENTS),
    entry(
        "/api/knowledge/feedback/{pk}/resolve/",
        at=pk("feedback_a"),
        POST=AGENTS,
        body=json_body(note="Fixed the steps."),
    ),
    entry(
        "/api/knowledge/feedback/{pk}/ticket/",
        at=pk("feedback_a"),
        POST=AGENTS,
        body=lambda w: None,
    ),
    # Satisfaction ratings: staff figures (a requester has their answer on the survey).
    entry("/api/csat/", GET=AGENTS),
    # Working a ticket (issue 18): macros, merge, links, presence.
    entry("/api/macros/", GET=AGENTS, POST=AGENTS, body=json_body(name="Matrix two", body="Hi")),
    entry(
        "/api/macros/{pk}/",
        "global",
        at=pk("macro_global"),
        GET=AGENTS,
        PUT=ADMINS,
        PATCH=ADMINS,
        DELETE=ADMINS,
        body=json_body(name="Matrix renamed", body="Hi", scope="global"),
    ),
    entry(
        "/api/tickets/{key}/apply_macro/",
        at=ticket_a,
        POST=AGENTS_ON_A,
        body=lambda w: {"macro": w.macro_global.pk},
    ),
    entry(
        "/api/tickets/{key}/merge/",
        at=ticket_a,
        POST=AGENTS_ON_A,
        body=lambda w: {"sources": [w.ticket_a_resolved.key]},
    ),
    entry(
        "/api/tickets/{key}/links/",
        at=ticket_a,
        GET=OWNER,
        POST=AGENTS_ON_A,
        body=lambda w: {"relation": "blocks", "ticket": w.ticket_a_resolved.key},
    ),
    entry(
        "/api/tickets/{key}/links/{link_id}/",
        at=lambda w: {"key": w.ticket_a.key, "link_id": w.link_ab.pk},
        DELETE=AGENTS_ON_A,
    ),
    entry(
        "/api/tickets/{key}/presence/",
        at=ticket_a,
        POST=AGENTS_ON_A,
        DELETE=AGENTS_ON_A,
        body=json_body(composing=True),
    ),
    # Integration tokens: everyone makes and revokes their own; admins see and revoke
    # everyone's (an agent is answered 404 for another's token, like a requester).
    entry(
        "/api/tokens/",
        GET=SIGNED_IN,
        POST=SIGNED_IN,
        body=json_body(name="Matrix made", scopes=["tickets:read"]),
    ),
    entry("/api/tokens/{pk}/", at=pk("token_a"), GET=TOKEN_OF_A, DELETE=TOKEN_OF_A),
    entry("/api/tokens/{pk}/revoke/", at=pk("token_a"), POST=TOKEN_OF_A),
    # Custom ticket fields: agents read the definitions, admins change them; a field
    # tickets hold values for is deactivated, not deleted (409). Requesters read no
    # values either: a ticket's custom_fields is null for them (the seeded value carries
    # MARKER_INTERNAL).
    entry(
        "/api/fields/",
        GET=AGENTS,
        POST=ADMINS,
        body=json_body(name="matrix_new", label="Matrix new", type="text"),
    ),
    entry(
        "/api/fields/{pk}/",
        "unused",
        at=pk("ticket_field_spare"),
        GET=AGENTS,
        PUT=ADMINS,
        PATCH=ADMINS,
        DELETE=ADMINS,
        body=json_body(name="matrix_spare", label="Matrix renamed", type="number"),
    ),
    entry(
        "/api/fields/{pk}/",
        "holding values",
        at=pk("ticket_field"),
        DELETE=Row(DENIED, DENIED, DENIED, DENIED, CONFLICT),
    ),
    entry(
        "/api/tickets/",
        "by a custom field",
        at=lambda w: {"?": "field.contract_ref=C-matrix"},
        GET=Row(DENIED, DENIED, DENIED, OK, OK),
    ),
    entry(
        "/api/tickets/",
        "sorted by a custom field",
        at=lambda w: {"?": "ordering=-field.contract_ref"},
        GET=Row(DENIED, DENIED, DENIED, OK, OK),
    ),
    # Automation rules: agents read them, admins write and dry-run them.
    entry(
        "/api/automation/rules/",
        GET=AGENTS,
        POST=ADMINS,
        body=lambda w: rule_definition("Matrix rule made", w.team.pk),
    ),
    entry(
        "/api/automation/rules/{pk}/",
        at=pk("rule"),
        GET=AGENTS,
        PUT=ADMINS,
        PATCH=ADMINS,
        DELETE=ADMINS,
        body=lambda w: rule_definition("Matrix VIP rule", w.team.pk),
    ),
    entry(
        "/api/automation/rules/dry-run/",
        POST=ADMINS,
        body=lambda w: rule_definition("Matrix unsaved", w.team.pk),
    ),
    entry("/api/automation/rules/{pk}/dry-run/", at=pk("rule"), POST=ADMINS, body=json_body()),
    # Webhooks: admins only (an endpoint's URL may be a credential, its deliveries carry
    # every event). The seeded endpoint's secret is in no answer (SECRETS); POST and
    # rotate-secret show a new one, once.
    entry(
        "/api/webhooks/",
        GET=ADMINS,
        POST=ADMINS,
        body=json_body(
            name="Matrix hook two", url="https://hooks.example.com/two", event_types=["*"]
        ),
    ),
    entry(
        "/api/webhooks/{pk}/",
        at=pk("endpoint"),
        GET=ADMINS,
        PUT=ADMINS,
        PATCH=ADMINS,
        DELETE=ADMINS,
        body=json_body(name="Matrix hook renamed", url="https://hooks.example.com/matrix"),
    ),
    entry("/api/webhooks/{pk}/deliveries/", at=pk("endpoint"), GET=ADMINS),
    entry(
        "/api/webhooks/{pk}/deliveries/{delivery_id}/redeliver/",
        at=lambda w: {"pk": w.endpoint.pk, "delivery_id": w.delivery.pk},
        POST=ADMINS,
        body=json_body(),
    ),
    entry("/api/webhooks/{pk}/rotate-secret/", at=pk("endpoint"), POST=ADMINS, body=json_body()),
    entry("/api/webhooks/{pk}/test/", at=pk("endpoint"), POST=ADMINS, body=json_body()),
    # Reports: agents and admins read them.
    entry("/api/reports/", GET=AGENTS),
    *(
        entry("/api/reports/{name}/", name, at=lambda w, n=name: {"name": n}, GET=AGENTS)
        for name in REPORTS
    ),
    entry(
        "/api/reports/{name}/",
        "no such report",
        at=lambda w: {"name": "nosuch"},
        GET=Row(DENIED, DENIED, DENIED, HIDDEN, HIDDEN),
    ),
    entry(
        "/api/reports/{name}/",
        "a team that is not there",
        at=lambda w: {"name": "volume", "?": "team=999999999"},
        GET=Row(DENIED, DENIED, DENIED, INVALID, INVALID),
    ),
]

# --- The requester side: the portal and the survey pages -------------------------------
# The portal is one's own desk: a ticket the person neither requested nor follows is a
# 404, for staff too. The agent follows A's open ticket; the admin follows nothing.
FOLLOWED_BY_AGENT = Row(LOGIN, OK, HIDDEN, OK, HIDDEN)
OWN_A = Row(LOGIN, OK, HIDDEN, HIDDEN, HIDDEN)  # A's, followed by nobody else
PORTAL_SIGNED_IN = Row(LOGIN, OK, OK, OK, OK)
PORTAL_NOBODY = Row(LOGIN, HIDDEN, HIDDEN, HIDDEN, HIDDEN)


# Bad input on a page: refused with a message (400), or cleaned and taken; never a 500.
TAKEN_OR_REFUSED = Outcome("2xx/400", frozenset({"ok", "invalid"}))
PORTAL_BAD_INPUT = Row(LOGIN, *[TAKEN_OR_REFUSED] * 4)


def stage_of(ticket: str, to: str) -> Callable[[World], Body]:
    def body(w: World) -> Body:
        found = getattr(w, ticket)
        found.refresh_from_db()
        target = w.workflow.stages.get(name=to)
        return Multipart({"from": found.stage_id, "to": target.pk})

    return body


def link_at(token: str) -> Callable[[World], Params]:
    return lambda w: {"uidb64": w.link_uid_a, "token": getattr(w, token)}


PORTAL = [
    # Signing in and out: open to everyone (a signed-in visitor is sent on).
    entry("/portal/signin/", GET=EVERYONE),
    entry(
        "/portal/signin/",
        "password",
        POST=EVERYONE,  # signed in as A, sent to the portal
        body=lambda w: Multipart(
            {"how": "password", "username": w.users["requester_a"].username, "password": PASSWORD}
        ),
    ),
    entry(
        "/portal/signin/",
        "mail me a link",
        POST=EVERYONE,  # the same answer for any address: on to link/
        body=lambda w: Multipart({"how": "link", "email": w.users["requester_a"].email}),
    ),
    entry("/portal/signin/link/", GET=EVERYONE),
    # A mailed link: the token is the key, whoever holds it (GET shows a button, POST
    # signs in as A); a forged one is a 404, an old one 410, for everyone.
    entry(
        "/portal/signin/link/{uidb64}/{token}/",
        "valid",
        at=link_at("link_token_a"),
        GET=EVERYONE,
        POST=EVERYONE,
        body=lambda w: Multipart({}),
    ),
    entry(
        "/portal/signin/link/{uidb64}/{token}/",
        "made up",
        at=lambda w: {"uidb64": w.link_uid_a, "token": "cz1abc-0123456789abcdef"},
        GET=NOBODY,
        POST=NOBODY,
        body=lambda w: Multipart({}),
    ),
    entry(
        "/portal/signin/link/{uidb64}/{token}/",
        "expired",
        at=link_at("link_token_a_expired"),
        GET=Row(GONE, GONE, GONE, GONE, GONE),
        POST=Row(GONE, GONE, GONE, GONE, GONE),
        body=lambda w: Multipart({}),
    ),
    # GET asks; POST signs out and goes to the sign-in page (no ``next``: not a refusal).
    entry("/portal/signout/", GET=EVERYONE, POST=EVERYONE, body=lambda w: Multipart({})),
    entry(
        "/portal/settings/",
        GET=PORTAL_SIGNED_IN,
        POST=PORTAL_SIGNED_IN,
        body=lambda w: Multipart({"first_name": "Matrix", "last_name": "Reader"}),
    ),
    # The person's tickets and new requests.
    entry("/portal/", GET=PORTAL_SIGNED_IN),
    entry("/portal/", "search", at=lambda w: {"?": "q=printer&status=all"}, GET=PORTAL_SIGNED_IN),
    entry("/portal/tickets/{key}/", at=ticket_a, GET=FOLLOWED_BY_AGENT),
    entry("/portal/tickets/{key}/", "B's", at=ticket_b, GET=Row(LOGIN, HIDDEN, OK, HIDDEN, HIDDEN)),
    entry("/portal/tickets/{key}/", "resolved", at=resolved_ticket_a, GET=OWN_A),
    entry(
        "/portal/tickets/{key}/",
        "no such key",
        at=lambda w: {"key": "NF-99999999"},
        GET=PORTAL_NOBODY,
    ),
    entry(
        "/portal/tickets/{key}/reply/",
        at=ticket_a,
        POST=FOLLOWED_BY_AGENT,  # followers reply too
        body=lambda w: Multipart({"body": "It jams again.", "confirmed": "1"}),
    ),
    entry(
        "/portal/tickets/{key}/reply/",
        "empty",
        at=ticket_a,
        POST=Row(LOGIN, INVALID, HIDDEN, INVALID, HIDDEN),
        body=lambda w: Multipart({"body": " "}),
    ),
    # Reopening is the requester's (Resolved -> Open lets requesters in the default
    # workflow); a follower has no such button.
    entry(
        "/portal/tickets/{key}/stage/",
        "reopen",
        at=resolved_ticket_a,
        POST=OWN_A,
        body=stage_of("ticket_a_resolved", "Open"),
    ),
    entry(
        "/portal/tickets/{key}/stage/",
        "a follower's",
        at=ticket_a,
        POST=Row(LOGIN, INVALID, HIDDEN, INVALID, HIDDEN),
        body=stage_of("ticket_a", "Open"),
    ),
    # A requester always follows their own; a follower stops following.
    entry(
        "/portal/tickets/{key}/unwatch/",
        at=ticket_a,
        POST=Row(LOGIN, INVALID, HIDDEN, OK, HIDDEN),
        body=lambda w: Multipart({}),
    ),
    entry(
        "/portal/tickets/{key}/files/{attachment_id}/",
        "public comment",
        at=lambda w: {**ticket_a(w), "attachment_id": w.attachment_public_a},
        GET=FOLLOWED_BY_AGENT,
    ),
    entry(
        "/portal/tickets/{key}/files/{attachment_id}/",
        "internal note",
        at=lambda w: {**ticket_a(w), "attachment_id": w.attachment_internal_a},
        GET=PORTAL_NOBODY,
    ),
    entry(
        "/portal/tickets/{key}/files/{attachment_id}/",
        "another ticket's file",
        at=lambda w: {**resolved_ticket_a(w), "attachment_id": w.attachment_public_a},
        GET=PORTAL_NOBODY,
    ),
    entry(
        "/portal/new/",
        GET=PORTAL_SIGNED_IN,
        POST=PORTAL_SIGNED_IN,  # filed, then sent to the new ticket's page
        body=lambda w: Multipart({"subject": "Scanner is slow", "description": "Very slow."}),
    ),
    entry(
        "/portal/new/",
        "find answers",
        at=lambda w: {"?": "subject=printer jams"},
        GET=PORTAL_SIGNED_IN,
    ),
    entry(
        "/portal/new/suggestions/",
        at=lambda w: {"?": "subject=printer jams"},
        GET=PORTAL_SIGNED_IN,
    ),
    # Bad input: refused or taken, never a 500.
    entry(
        "/portal/",
        "a NUL in the search",
        at=lambda w: {"?": "status=all&q=jam%00s"},
        GET=PORTAL_BAD_INPUT,
    ),
    entry(
        "/portal/new/",
        "a NUL in the request",
        POST=PORTAL_BAD_INPUT,
        body=lambda w: Multipart({"subject": "Scanner\x00 slow", "description": "Slow\x00."}),
    ),
    *(
        entry(
            path,
            "a NUL in the subject",
            at=lambda w: {"?": "subject=printer%20jams%00"},
            GET=PORTAL_BAD_INPUT,
        )
        for path in ("/portal/new/", "/portal/new/suggestions/")
    ),
    entry(
        "/portal/tickets/{key}/reply/",
        "a NUL in the reply",
        at=ticket_a,
        POST=Row(LOGIN, TAKEN_OR_REFUSED, HIDDEN, TAKEN_OR_REFUSED, HIDDEN),
        body=lambda w: Multipart({"body": "It jams\x00 again.", "confirmed": "1"}),
    ),
    entry(
        "/portal/new/{token}/open/{article_id}/",
        "an id past bigint",
        at=lambda w: {"token": w.deflection_a.token, "article_id": 10**20},
        GET=PORTAL_NOBODY,
    ),
    # A suggestion's link records the opening on the attempt of the page that showed it:
    # A's attempt is A's own (anyone else: no such suggestion).
    entry(
        "/portal/new/{token}/open/{article_id}/",
        at=lambda w: {"token": w.deflection_a.token, "article_id": w.article_public.pk},
        GET=OWN_A,
    ),
    entry(
        "/portal/new/{token}/open/{article_id}/",
        "not shown",
        at=lambda w: {"token": w.deflection_a.token, "article_id": w.article_internal.pk},
        GET=PORTAL_NOBODY,
    ),
]


def survey(token: str) -> Callable[[World], Params]:
    return lambda w: {"token": getattr(w, token)}


MADE_UP_SURVEY = "eyJ0IjoxLCJ1IjoxfQ:1vMadeUp:notasignature"


def vote(choice: str) -> Callable[[World], Body]:
    return lambda w: Multipart({"rating": choice, "comment": "Thanks."})


# No sign-in: the signed token is the key, for whoever holds the link. A made-up token
# is 400 for everyone, a survey past its time 410.
SATISFACTION = [
    *(
        entry(
            "/satisfaction/{token}/",
            note,
            at=at,
            GET=row,
            POST=row,
            body=vote("bad"),
        )
        for note, at, row in (
            ("A's", survey("survey_token_a"), EVERYONE),
            ("made up", lambda w: {"token": MADE_UP_SURVEY}, ALL_INVALID),
            ("closed", survey("survey_token_b_closed"), Row(GONE, GONE, GONE, GONE, GONE)),
        )
    ),
    *(
        entry(
            "/satisfaction/{token}/{choice}/",
            note,
            at=lambda w, at=at: {**at(w), "choice": "good"},
            GET=row,
            POST=row,
            body=vote("good"),
        )
        for note, at, row in (
            ("A's", survey("survey_token_a"), EVERYONE),
            ("made up", lambda w: {"token": MADE_UP_SURVEY}, ALL_INVALID),
        )
    ),
    entry("/satisfaction/{token}/thanks/", "A's", at=survey("survey_token_a"), GET=EVERYONE),
    entry(
        "/satisfaction/{token}/thanks/",
        "made up",
        at=lambda w: {"token": MADE_UP_SURVEY},
        GET=ALL_INVALID,
    ),
]

# --- HTML pages outside the admin -------------------------------------------------------
PAGES = [
    entry("/healthz", GET=EVERYONE),
    entry("/readyz", GET=EVERYONE),
    entry("/forms/", GET=EVERYONE),
    entry("/forms/login/", GET=EVERYONE),  # signed-in callers are sent on to /forms/
    entry(
        "/forms/{slug}/",
        "public",
        at=slug("form_public"),
        GET=EVERYONE,
        POST=EVERYONE,  # then redirected to done/
        body=lambda w: Multipart({"details": "Slow.", "submitter_email": "walk-in@matrix.test"}),
    ),
    entry(
        "/forms/{slug}/",
        "login required",
        at=slug("form_login"),
        GET=Row(LOGIN, OK, OK, OK, OK),
        POST=Row(LOGIN, OK, OK, OK, OK),
        body=lambda w: Multipart({"details": "A laptop, please."}),
    ),
    entry("/forms/{slug}/", "draft", at=slug("form_draft"), GET=NOBODY),
    entry("/forms/{slug}/done/", at=slug("form_public"), GET=EVERYONE),
    # The link mailed to confirm an unverified submission: only a signed token opens it
    # (tests/forms_builder/test_confirmation.py); a made-up one is a 404 page for all.
    entry(
        "/forms/confirm/{token}/",
        "made up",
        at=lambda w: {"token": "1:2:made-up"},
        GET=NOBODY,
        POST=NOBODY,
        body=lambda w: Multipart({}),
    ),
    # The help center (helpcenter): public articles for everyone, internal ones for staff.
    entry("/help/", GET=EVERYONE),
    entry("/help/sitemap.xml", GET=EVERYONE),
    # Built as an anonymous reader sees the help center, whoever asks.
    *(
        entry(
            "/help/sitemap-{section}.xml",
            section,
            at=lambda w, s=section: {"section": s},
            GET=EVERYONE,
        )
        for section in ("articles", "categories")
    ),
    entry(
        "/help/sitemap-{section}.xml", "no such section", at=lambda w: {"section": "x"}, GET=NOBODY
    ),
    entry("/help/search/", at=lambda w: {"?": "q=printer jams"}, GET=EVERYONE),
    entry("/help/{slug}/", at=slug("category"), GET=EVERYONE),
    entry("/help/{slug}/", "empty", at=slug("category_spare"), GET=NOBODY),
    entry("/help/articles/{slug}/", "public", at=slug("article_public"), GET=EVERYONE),
    entry("/help/articles/{slug}/", "internal", at=slug("article_internal"), GET=STAFF_READ),
    entry("/help/articles/{slug}/", "draft", at=slug("article_draft"), GET=NOBODY),
    # Anything else under /help/: the help center's own 404.
    entry("/help/.*", GET=NOBODY, POST=NOBODY, body=lambda w: Multipart({})),
    # The first release's addresses: a 301 to today's for any slug, whoever asks (the
    # new address then answers as above, so the redirect tells nothing).
    entry("/help/a/{slug}/", "internal", at=slug("article_internal"), GET=EVERYONE),
    entry("/help/c/{slug}/", "empty", at=slug("category_spare"), GET=EVERYONE),
    *(
        entry(
            path,
            note,
            at=lambda w, name=name: {"token": SEARCH_TOKEN, "slug": getattr(w, name).slug},
            GET=row,
        )
        for path in ("/help/search/{token}/articles/{slug}/", "/help/search/{token}/a/{slug}/")
        for note, name, row in (
            ("public", "article_public", EVERYONE),
            ("internal", "article_internal", STAFF_READ),
        )
    ),
    # "Was this helpful?" and feedback: anonymous readers too (once per reader).
    *(
        entry(
            path,
            note,
            at=slug(name),
            POST=row,
            body=lambda w, data=data: Multipart(data),
        )
        for path, data in (
            ("/help/articles/{slug}/helpful/", {"helpful": "yes"}),
            ("/help/articles/{slug}/feedback/", {"comment": "Step 2 is out of date."}),
        )
        for note, name, row in (
            ("public", "article_public", EVERYONE),
            ("internal", "article_internal", STAFF_READ),
        )
    ),
    # The language chooser: a reader's own browser (and signed-in, their account).
    entry("/language/", GET=EVERYONE),
    entry(
        "/language/",
        "German",
        at=lambda w: {"?": "language=de&next=/help/"},
        GET=EVERYONE,
        POST=EVERYONE,
        body=lambda w: Multipart({"language": "de", "next": "/portal/"}),
    ),
    entry(
        "/language/",
        "unknown",
        at=lambda w: {"?": "language=xx"},
        GET=ALL_INVALID,
        POST=ALL_INVALID,
        body=lambda w: Multipart({"language": "xx"}),
    ),
    # Single sign-on (sso/views.py), off in the matrix: every page of it is a 404, signing
    # in, the provider's way back, signing out and the page after it.
    entry("/sso/signin/", GET=NOBODY, POST=ALL_NOT_ALLOWED, body=json_body()),
    entry(
        "/sso/callback/",
        at=lambda w: {"?": "code=matrix&state=matrix"},
        GET=NOBODY,
        POST=ALL_NOT_ALLOWED,
        body=json_body(),
    ),
    entry(
        "/sso/signout/",
        GET=NOBODY,
        POST=NOBODY,
        PUT=ALL_NOT_ALLOWED,
        body=json_body(),
    ),
    entry("/sso/signed-out/", GET=NOBODY),
    *PORTAL,
    *SATISFACTION,
]

# --- The admin --------------------------------------------------------------------------
ALL = "view add change delete"
# What each ModelAdmin lets agents and admins do (superusers are not in the matrix), and
# the object its pages open. Admin classes state this as RolePermissionsMixin's
# agent_actions / admin_actions; third-party admins keep Django's permission rows, which
# neither role has: only superusers use them. (django-celery-beat's schedules are
# re-registered with roles: admins run the desk's schedules, nixflow/admin/beat.py.)
ADMIN_MODELS: dict[str, tuple[str, str, Callable[[World], Any]]] = {
    "auth.group": ("", "", lambda w: w.group.pk),
    "authtoken.tokenproxy": ("", "", lambda w: w.users["agent"].pk),  # keyed by the user
    "django_celery_beat.periodictask": ("", ALL, lambda w: w.periodic_task.pk),
    "django_celery_beat.clockedschedule": ("", ALL, lambda w: w.clocked.pk),
    "django_celery_beat.crontabschedule": ("", ALL, lambda w: w.crontab.pk),
    "django_celery_beat.solarschedule": ("", ALL, lambda w: w.solar.pk),
    "django_celery_beat.intervalschedule": ("", ALL, lambda w: w.interval.pk),
    "axes.accessattempt": ("", "", lambda w: w.access_attempt.pk),
    "axes.accesslog": ("", "", lambda w: w.access_log.pk),
    "axes.accessfailurelog": ("", "", lambda w: w.access_failure.pk),
    "nixflow.user": ("view", ALL, lambda w: w.users["requester_a"].pk),
    # Deleting a ticket is for superusers only.
    "nixflow.ticket": ("view add change", "view add change", lambda w: w.ticket_a.pk),
    "nixflow.workflow": ("view", ALL, lambda w: w.workflow.pk),
    "nixflow.team": ("view", ALL, lambda w: w.team.pk),
    "nixflow.routingrule": ("", ALL, lambda w: w.routing_rule.pk),
    "nixflow.tag": ("view", ALL, lambda w: core_tag(w)["pk"]),
    # The agent's own view: theirs to change; admins manage everyone's.
    "nixflow.savedview": (ALL, ALL, lambda w: w.saved_view.pk),
    # The agent's own macro: theirs to change; admins manage every macro.
    "macros.macro": (ALL, ALL, lambda w: w.macro_agent.pk),
    # A bulk job is a record of what ran: seen (agents their own), never edited.
    "macros.bulkapply": ("view", "view", lambda w: w.bulk_apply.pk),
    # One row (id 1), shown with its defaults before anyone saved it; never added or
    # deleted.
    "nixflow.desksettings": ("view", "view change", lambda w: 1),
    "nixflow.comment": ("view", "view", lambda w: w.comment_internal_a.pk),
    "nixflow.historylog": ("view", "view", lambda w: w.history_a.pk),
    "sla.businesscalendar": ("view", ALL, lambda w: w.calendar.pk),
    "sla.slapolicy": ("view", ALL, lambda w: w.policy.pk),
    "sla.slametric": ("view", "view", lambda w: w.metric_a.pk),
    "sla.slabreach": ("view", "view", lambda w: w.breach_a.pk),  # acknowledged by action
    "knowledge.knowledgearticle": (ALL, ALL, lambda w: w.article_internal.pk),
    "knowledge.knowledgecategory": (ALL, ALL, lambda w: w.category.pk),
    "knowledge.knowledgetag": (ALL, ALL, lambda w: w.tag.pk),
    "knowledge.knowledgearticlefeedback": ("view change", "view change", lambda w: w.feedback_a.pk),
    "knowledge.knowledgesearchhistory": ("view", "view", lambda w: w.search_a.pk),
    "forms_builder.customform": ("view add change", ALL, lambda w: w.form_public.pk),
    "forms_builder.formsubmission": ("view", "view", lambda w: w.submission_a.pk),
    "email_integration.emailaccount": ("view", ALL, lambda w: w.account.pk),
    "email_integration.emailmessage": ("view", "view", lambda w: w.mail_a.pk),
    "eventlog.eventlog": ("view", "view", lambda w: w.event_a.pk),
    "eventlog.seal": ("view", "view", lambda w: w.seal.pk),
    "eventlog.outboxmessage": ("view", "view", lambda w: w.outbox_message.pk),
    # Satisfaction: admins set the policy per workflow, agents read it; surveys and
    # ratings are records (read-only for both).
    "csat.surveypolicy": ("view", ALL, lambda w: w.survey_policy.pk),
    "csat.survey": ("view", "view", lambda w: w.survey_a.pk),
    "csat.rating": ("view", "view", lambda w: w.rating_a.pk),
    # What a requester did on "New request": read-only records.
    "portal.deflectionattempt": ("view", "view", lambda w: w.deflection_a.pk),
    # Own rows only: its pages are in ADMIN_PAGES (OWN_ROWS_ONLY).
    "notifications.notification": ("view", "view", lambda w: w.notification_agent.pk),
    # Integration tokens: made (each their own) and revoked by an action, never edited
    # or deleted; the agent's own token, which admins see too.
    "api_tokens.apitoken": ("view add", "view add", lambda w: w.token_agent.pk),
    # Custom ticket fields and automation rules: agents read them, admins change them.
    "nixflow.ticketfield": ("view", ALL, lambda w: w.ticket_field_spare.pk),
    "automation.rule": ("view", ALL, lambda w: w.rule.pk),
    # Webhooks: admins only; the delivery log is a record (sent again by an action).
    "webhooks.endpoint": ("", ALL, lambda w: w.endpoint.pk),
    "webhooks.delivery": ("", "view", lambda w: w.delivery.pk),
    # Data-subject requests: a record admins read; written by the export and erase
    # pages only (ADMIN_PAGES), never added, changed or deleted.
    "privacy.privacyrequest": ("", "view", lambda w: _privacy_request().pk),
    # Who is linked to whom at the sign-in service: admins read the links and delete one
    # to let the next sign-in link by verified address again; the sign-in writes them.
    "sso.identity": ("", "view delete", lambda w: _identity(w).pk),
}
# Admins whose every agent and admin sees only their own rows, so that one object is
# one actor's: their pages are listed in ADMIN_PAGES rather than made by _model_pages.
OWN_ROWS_ONLY = {"notifications.notification"}


def _privacy_request() -> Any:
    from privacy.models import PrivacyRequest, RequestKind

    return PrivacyRequest.objects.get_or_create(kind=RequestKind.EXPORT)[0]


def _identity(w: World) -> Any:
    from sso.models import Identity

    return Identity.objects.get_or_create(
        user=w.users["agent"], issuer="https://id.matrix.test", defaults={"subject": "matrix-agent"}
    )[0]


def _staff_row(agent: str, admin_: str, *needed: str) -> Row:
    """The row of a page that needs any of ``needed`` (Django's own rule for it)."""

    def outcome(granted: str) -> Outcome:
        return OK if set(granted.split()) & set(needed) else DENIED

    return Row(LOGIN, LOGIN, LOGIN, outcome(agent), outcome(admin_))


def _model_pages() -> list[Entry]:
    """The pages Django's admin gives each registered model, with the row each page's
    own permission check gives (the changelist and change form open read-only with view
    permission; saving needs change)."""
    entries = []
    for label, (agent, admin_, obj) in ADMIN_MODELS.items():
        if label in OWN_ROWS_ONLY:
            continue
        base = "/admin/" + label.replace(".", "/") + "/"

        def at(w: World, obj: Callable[[World], Any] = obj) -> Params:
            return {"object_id": obj(w)}

        def can(*needed: str, agent: str = agent, admin_: str = admin_) -> Row:
            return _staff_row(agent, admin_, *needed)

        read = can("view", "change")
        entries += [
            entry(base, GET=read),
            entry(base + "add/", GET=can("add"), POST=can("add")),
            entry(base + "{object_id}/change/", at=at, GET=read, POST=can("change")),
            entry(base + "{object_id}/history/", at=at, GET=read),
            entry(base + "{object_id}/delete/", at=at, GET=can("delete"), POST=can("delete")),
            entry(base + "{object_id}/", at=at, GET=STAFF),  # redirects to change/
        ]
    return entries


def _app_indexes() -> list[Entry]:
    """An app's page lists the models the user may see, and is a 404 without any."""
    labels = {label.split(".")[0] for label in ADMIN_MODELS}
    entries = []
    for app in sorted(labels):
        granted = [perms for label, perms in ADMIN_MODELS.items() if label.startswith(app + ".")]
        agent = OK if any(perms[0] for perms in granted) else HIDDEN
        admin_ = OK if any(perms[1] for perms in granted) else HIDDEN
        entries.append(
            entry(
                "/admin/{app_label}/",
                app,
                at=lambda w, app=app: {"app_label": app},
                GET=Row(LOGIN, LOGIN, LOGIN, agent, admin_),
            )
        )
    return entries


def _article(w: World) -> Params:
    return {"object_id": w.article_public.pk}


ADMIN_PAGES = [
    entry("/admin/", GET=STAFF),
    # Staff already signed in are sent on to the index.
    entry("/admin/login/", GET=Row(OK, OK, OK, TO_INDEX, TO_INDEX)),
    entry(
        "/admin/logout/",
        GET=Row(TO_INDEX, TO_INDEX, TO_INDEX, NOT_ALLOWED, NOT_ALLOWED),
        POST=Row(TO_INDEX, TO_INDEX, TO_INDEX, OK, OK),
    ),
    entry("/admin/password_change/", GET=STAFF),
    entry("/admin/password_change/done/", GET=STAFF),
    entry(
        "/admin/autocomplete/",
        at=lambda w: {"?": "app_label=nixflow&model_name=ticket&field_name=requester&term=m"},
        GET=STAFF,
    ),
    entry("/admin/jsi18n/", GET=STAFF),
    # No model has a public page (get_absolute_url) to view on site.
    entry(
        "/admin/r/{content_type_id}/{object_id}/",
        at=lambda w: {
            "content_type_id": ContentType.objects.get_for_model(w.ticket_a).pk,
            "object_id": w.ticket_a.pk,
        },
        GET=STAFF_404,
    ),
    *_app_indexes(),
    entry("/admin/{url}", at=lambda w: {"url": "no/such/page/"}, GET=STAFF_404),
    entry("/admin/sla/dashboard/", GET=STAFF, POST=STAFF),
    # Each agent's own availability (a POST without one is refused with a message).
    entry("/admin/nixflow/team/availability/", GET=STAFF, POST=STAFF),
    entry(
        "/admin/nixflow/user/{id}/password/",
        at=lambda w: {"id": w.users["requester_a"].pk},
        GET=ADMIN_ROLE,
        POST=ADMIN_ROLE,
    ),
    entry("/admin/knowledge/knowledgearticle/{object_id}/versions/", at=_article, GET=STAFF),
    entry("/admin/knowledge/knowledgearticle/{object_id}/versions/diff/", at=_article, GET=STAFF),
    entry(
        "/admin/knowledge/knowledgearticle/{object_id}/versions/{number}/restore/",
        at=lambda w: {**_article(w), "number": 1},
        GET=NOT_VIA_GET,
        POST=STAFF,
    ),
    entry(
        "/admin/knowledge/knowledgearticle/{object_id}/attach/", at=_article, GET=STAFF, POST=STAFF
    ),
    entry("/admin/knowledge/knowledgesearchhistory/report/", GET=STAFF),
    entry(
        "/admin/forms_builder/customform/{object_id}/preview/",
        at=lambda w: {"object_id": w.form_draft.pk},
        GET=STAFF,
        POST=STAFF,
    ),
    entry(
        "/admin/forms_builder/customform/{object_id}/export/",
        at=lambda w: {"object_id": w.form_public.pk},
        GET=STAFF,
    ),
    entry(
        "/admin/forms_builder/formsubmission/{object_id}/files/{attachment_id}/",
        at=lambda w: {"object_id": w.submission_a.pk, "attachment_id": w.submission_file_a},
        GET=STAFF,
    ),
    entry(
        "/admin/email_integration/emailmessage/{pk}/raw/",
        at=lambda w: {"pk": w.mail_a.pk},
        GET=STAFF,
    ),
    # OAuth2 consent (email_integration/oauth.py): admins only. The matrix's account signs
    # in with a password, so the admin is sent back to its page with the reason; the
    # callback without a state it started sends the admin back to the list.
    entry(
        "/admin/email_integration/emailaccount/{pk}/oauth/authorize/",
        at=lambda w: {"pk": w.account.pk},
        GET=ADMIN_ROLE,
    ),
    entry("/admin/email_integration/emailaccount/oauth/callback/", GET=ADMIN_ROLE),
    # Exporting or erasing a person: admins only (an empty form is answered with its
    # errors, so nothing is exported or erased here).
    entry("/admin/privacy/privacyrequest/export/", GET=ADMIN_ROLE, POST=ADMIN_ROLE),
    entry("/admin/privacy/privacyrequest/erase/", GET=ADMIN_ROLE, POST=ADMIN_ROLE),
    # The agent's notification: opening it marks it read and redirects to its ticket;
    # the admin's list does not hold it (not found). Nothing is added, changed or
    # deleted here.
    entry("/admin/notifications/notification/", GET=STAFF),
    entry("/admin/notifications/notification/preferences/", GET=STAFF, POST=STAFF),
    entry(
        "/admin/notifications/notification/add/",
        GET=ADMIN_NOBODY,
        POST=ADMIN_NOBODY,
    ),
    entry(
        "/admin/notifications/notification/{object_id}/change/",
        at=lambda w: {"object_id": w.notification_agent.pk},
        GET=Row(LOGIN, LOGIN, LOGIN, OK, HIDDEN),
        POST=ADMIN_NOBODY,
    ),
    entry(
        "/admin/notifications/notification/{object_id}/history/",
        at=lambda w: {"object_id": w.notification_agent.pk},
        GET=Row(LOGIN, LOGIN, LOGIN, OK, HIDDEN),
    ),
    entry(
        "/admin/notifications/notification/{object_id}/delete/",
        at=lambda w: {"object_id": w.notification_agent.pk},
        GET=ADMIN_NOBODY,
        POST=ADMIN_NOBODY,
    ),
    entry(
        "/admin/notifications/notification/{object_id}/",
        at=lambda w: {"object_id": w.notification_agent.pk},
        GET=STAFF,
    ),
    # The ticket page's composer, links and merge (issue 18).
    entry(
        "/admin/nixflow/ticket/{object_id}/reply/",
        at=lambda w: {"object_id": w.ticket_a.pk},
        GET=STAFF,
        POST=STAFF,
        body=lambda w: Multipart({"reply_body": "Matrix reply", "action": "send"}),
    ),
    entry(
        "/admin/nixflow/ticket/{object_id}/reply/draft/",
        at=lambda w: {"object_id": w.ticket_a.pk},
        GET=Row(LOGIN, LOGIN, LOGIN, INVALID, INVALID),  # the draft needs ?tool=
        POST=ONE_METHOD,  # a read: GET only
        body=lambda w: Multipart({}),
    ),
    entry(
        "/admin/nixflow/ticket/{pk}/merge/",
        at=lambda w: {"pk": w.ticket_a_resolved.pk},
        GET=ONE_METHOD,
        POST=STAFF,
        body=lambda w: Multipart({"merge_into_key": w.ticket_a.key}),
    ),
    entry(
        "/admin/nixflow/ticket/{pk}/links/",
        at=lambda w: {"pk": w.ticket_a.pk},
        GET=ONE_METHOD,
        POST=STAFF,
        body=lambda w: Multipart({"link_kind": "blocks", "link_ticket": w.ticket_a_resolved.key}),
    ),
    # The reports: agents and admins (a requester made staff is refused).
    entry("/admin/reports/", GET=STAFF),
    *(
        entry(path, name, at=lambda w, n=name: {"name": n}, GET=STAFF)
        for path in ("/admin/reports/{name}/", "/admin/reports/{name}.csv")
        for name in REPORTS
    ),
    *(
        entry(path, "no such report", at=lambda w: {"name": "nosuch"}, GET=STAFF_404)
        for path in ("/admin/reports/{name}/", "/admin/reports/{name}.csv")
    ),
    entry(
        "/admin/nixflow/ticket/{pk}/links/{link_id}/remove/",
        at=lambda w: {"pk": w.ticket_a.pk, "link_id": w.link_ab.pk},
        GET=ONE_METHOD,
        POST=STAFF,
        body=lambda w: Multipart({}),
    ),
]

ENTRIES: list[Entry] = [*API, *PAGES, *_model_pages(), *ADMIN_PAGES]
ROUTES: list[Route] = discover_routes()


# --- Cases ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    entry: Entry
    method: str
    actor: str
    expected: Outcome

    def __str__(self) -> str:
        note = f" ({self.entry.note})" if self.entry.note else ""
        return f"{self.method} {self.entry.pattern}{note} as {self.actor} -> {self.expected}"

    def send(self, client: Client, world: World) -> HttpResponseBase:
        params = dict(self.entry.target(world))
        query = params.pop("?", "")
        path = fill(self.entry.pattern, params)
        # The path must reach the route it stands for (a slug can shadow a literal).
        assert display(resolve(path).route) == self.entry.pattern, path
        extra: dict[str, Any] = {}
        if self.entry.pattern.startswith("/api/"):
            if self.actor in world.tokens:
                extra["HTTP_AUTHORIZATION"] = f"Token {world.tokens[self.actor]}"
        elif self.actor in world.sessions:
            client.cookies[settings.SESSION_COOKIE_NAME] = world.sessions[self.actor]
        url = f"{path}?{query}" if query else path
        make_body = self.entry.bodies.get(self.method)
        payload = make_body(world) if make_body is not None else None
        if self.method == "GET":
            return client.get(url, **extra)
        if isinstance(payload, Multipart) or (payload is None and self.method == "POST"):
            data = payload.data if isinstance(payload, Multipart) else {}
            return client.post(url, data, **extra)
        if isinstance(payload, Raw):
            return client.generic(
                self.method, url, payload.content, content_type=payload.content_type, **extra
            )
        content = json.dumps(payload if payload is not None else {})
        return client.generic(self.method, url, content, content_type="application/json", **extra)


def _cases() -> Iterator[Case]:
    for item in ENTRIES:
        for method, row in item.expect.items():
            for actor, expected in zip(ACTORS, row, strict=True):
                yield Case(item, method, actor, expected)
    # A method an API route does not take has no handler, whoever asks: the admin, who
    # gets past every permission, gets 405 (the others are refused sooner, or alike).
    first = {}
    for item in API:
        first.setdefault(item.pattern, item)
    for route in ROUTES:
        if not route.is_api or route.methods is None or route.pattern not in first:
            continue
        for method in ("GET", *WRITE_METHODS):
            if method not in route.methods:
                lacking = Entry(route.pattern, {}, first[route.pattern].target, "no such method")
                yield Case(lacking, method, "admin", NOT_ALLOWED)


CASES = list(_cases())


@pytest.fixture(scope="module")
def world(
    django_db_setup: None,
    django_db_blocker: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    """The desk, seeded once for the module in a transaction that is never committed;
    each test runs in a savepoint of it (pytest-django's ``db``), rolled back after."""
    media = tmp_path_factory.mktemp("matrix-media")
    with (
        django_db_blocker.unblock(),
        override_settings(
            MEDIA_ROOT=str(media),
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
            # Rate limits count in the cache: one in memory, emptied before each test.
            CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        ),
        transaction.atomic(),
    ):
        yield seed_world()
        transaction.set_rollback(True)


@pytest.fixture(autouse=True)
def _fresh_throttles() -> Iterator[None]:
    # Anonymous form submissions are counted per address in the cache.
    cache.clear()
    yield
    cache.clear()


def _excerpt(response: HttpResponseBase) -> str:
    location = response.get("Location")
    if location:
        return f"-> {location}"
    if getattr(response, "streaming", False):
        return "(streamed)"
    return response.content[:600].decode("utf-8", "replace")  # type: ignore[attr-defined]


# --- The matrix -------------------------------------------------------------------------
def test_every_route_is_in_the_matrix() -> None:
    declared = {item.pattern for item in ENTRIES}
    unclassified = sorted({route.pattern for route in ROUTES} - declared)
    assert not unclassified, (
        "Routes nobody has classified: add them to tests/test_permission_matrix.py "
        "(ADMIN_MODELS for a new ModelAdmin) with what each actor gets:\n" + "\n".join(unclassified)
    )
    stale = sorted(declared - {route.pattern for route in ROUTES})
    assert not stale, "The matrix names routes the URLconf no longer has:\n" + "\n".join(stale)


def test_every_method_of_every_api_route_has_expectations() -> None:
    missing = []
    for route in ROUTES:
        if not route.is_api or route.methods is None:
            continue
        covered = {m for item in API if item.pattern == route.pattern for m in item.expect}
        missing += [f"{m} {route.pattern}" for m in sorted(route.methods - covered)]
        missing += [f"{m} {route.pattern} (the route lacks it)" for m in covered - route.methods]
    assert not missing, "\n".join(missing)


def test_every_model_admin_is_in_the_matrix() -> None:
    registered = {model._meta.label_lower for model in admin.site._registry}
    assert registered == set(ADMIN_MODELS), (
        f"missing: {sorted(registered - set(ADMIN_MODELS))}; "
        f"no longer registered: {sorted(set(ADMIN_MODELS) - registered)}"
    )


def _param(case: Case) -> Any:
    bug = case.entry.bug
    if bug is None or case.actor not in bug[1]:
        return pytest.param(case, id=str(case))
    # A DataError is the 500 (the test client raises what the view raised); anything
    # else is a failure of its own.
    known = pytest.mark.xfail(reason=f"known bug: {bug[0]}", raises=DataError, strict=True)
    return pytest.param(case, id=str(case), marks=known)


@pytest.mark.parametrize("case", [_param(case) for case in CASES])
def test_permission_matrix(case: Case, world: World, client: Client) -> None:
    response = case.send(client, world)
    got = classify(response)
    assert got in case.expected.accepts, (
        f"{case}: got {response.status_code} ({got}) {_excerpt(response)}"
    )
    text = body_text(response)
    leaked = [m for m in forbidden_markers(case.actor, case.entry.pattern) if m in text]
    assert not leaked, f"{case}: the response shows {leaked}:\n{text[:2000]}"


# The staff requester's own pages (the index lists nothing; their password is theirs).
OWN_ADMIN_PAGES = {
    "/admin/",
    "/admin/login/",
    "/admin/logout/",
    "/admin/password_change/",
    "/admin/password_change/done/",
    "/admin/jsi18n/",
}


NOTHING = Outcome("403/404", frozenset({"denied", "hidden"}))


def _for_staff_requester(item: Entry, method: str) -> Outcome | None:
    """What a requester made staff by mistake gets: nothing (RolePermissionsMixin; the
    custom pages check the role too). Refused or not found, as each page answers."""
    if item.pattern in OWN_ADMIN_PAGES:
        return None
    if item.expect.get("GET") == STAFF and item.pattern.endswith("/{object_id}/"):
        return OK  # the redirect to change/, which then refuses
    if item.expect[method] == ONE_METHOD:
        return NOT_ALLOWED  # a method the view does not take: 405 whoever asks
    return NOTHING


@pytest.mark.parametrize(
    ("item", "method", "expected"),
    [
        pytest.param(
            item,
            method,
            expected,
            id=f"{method} {item.pattern}{f' ({item.note})' if item.note else ''} "
            f"as a requester made staff -> {expected}",
        )
        for item in ENTRIES
        if item.pattern.startswith("/admin/")
        for method in item.expect
        if (expected := _for_staff_requester(item, method)) is not None
    ],
)
def test_a_requester_made_staff_gets_nothing_from_the_admin(
    item: Entry, method: str, expected: Outcome, world: World, client: Client
) -> None:
    case = Case(item, method, "staff_requester", expected)
    response = case.send(client, world)
    assert classify(response) in expected.accepts, f"{case}: got {response.status_code}"
    leaked = [m for m in forbidden_markers("requester_a", item.pattern) if m in body_text(response)]
    assert not leaked, f"{case}: the response shows {leaked}"


# --- What the lists hold ----------------------------------------------------------------
def _get(client: Client, world: World, actor: str, path: str) -> Any:
    extra = {}
    if actor != "anonymous":
        extra["HTTP_AUTHORIZATION"] = f"Token {world.tokens[actor]}"
    response = client.get(path, **extra)
    assert response.status_code == 200, (path, actor, response.content[:500])
    return response.json()


def _ids(data: Any, key: str = "id") -> set[Any]:
    rows = data["results"] if isinstance(data, dict) else data
    return {row[key] for row in rows}


ListCheck = Callable[[Client, World, str], None]
REQUESTERS = ("requester_a", "requester_b")
STAFF_ACTORS = ("agent", "admin")


def tickets_listed(client: Client, world: World, actor: str) -> None:
    listed = _ids(_get(client, world, actor, "/api/tickets/"), "key")
    assert listed == world.tickets_of(actor)
    if actor == "requester_a":
        assert world.ticket_a.key in listed
        assert world.ticket_b.key not in listed


def tickets_filtered_by_the_other_requester(client: Client, world: World, actor: str) -> None:
    other = world.users["requester_b" if actor == "requester_a" else "requester_a"]
    assert _ids(_get(client, world, actor, f"/api/tickets/?requester={other.pk}"), "key") == set()


def comments_listed(client: Client, world: World, actor: str) -> None:
    data = _get(client, world, actor, f"/api/tickets/{world.ticket_a.key}/comments/")
    rows = data["results"]
    internal = [row["id"] for row in rows if row["is_internal"]]
    if actor in STAFF_ACTORS:
        assert internal == [world.comment_internal_a.pk]
    else:
        assert internal == []
        assert world.comment_public_a.pk in {row["id"] for row in rows}


def submissions_listed(client: Client, world: World, actor: str) -> None:
    listed = _ids(_get(client, world, actor, "/api/forms/submissions/"))
    mine = FormSubmission.objects.all()
    if actor in REQUESTERS:
        mine = mine.filter(submitter=world.users[actor])
    assert listed == set(mine.values_list("pk", flat=True))
    assert (world.submission_b.pk in listed) == (actor != "requester_a")
    assert (world.submission_a.pk in listed) == (actor != "requester_b")


def forms_listed(client: Client, world: World, actor: str) -> None:
    listed = _ids(_get(client, world, actor, "/api/forms/"), "slug")
    assert world.form_public.slug in listed
    assert (world.form_draft.slug in listed) == (actor in STAFF_ACTORS)


def _readable_articles(actor: str) -> set[int]:
    articles = KnowledgeArticle.objects.all()
    if actor not in STAFF_ACTORS:
        articles = articles.filter(
            status=KnowledgeArticleStatus.PUBLISHED, visibility=Visibility.PUBLIC
        )
    return set(articles.values_list("pk", flat=True))


def articles_listed(client: Client, world: World, actor: str) -> None:
    listed = _ids(_get(client, world, actor, "/api/knowledge/articles/?page_size=200"))
    assert listed == _readable_articles(actor)
    for hidden in (world.article_internal, world.article_draft):
        assert (hidden.pk in listed) == (actor in STAFF_ACTORS)


def articles_filtered_to_internal(client: Client, world: World, actor: str) -> None:
    data = _get(client, world, actor, "/api/knowledge/articles/?visibility=INTERNAL")
    assert (world.article_internal.pk in _ids(data)) == (actor in STAFF_ACTORS)


def search_results(client: Client, world: World, actor: str) -> None:
    found = _ids(_get(client, world, actor, "/api/knowledge/search/?q=printer jams"))
    assert world.article_public.pk in found
    # Search shows published articles only, internal ones to staff.
    assert (world.article_internal.pk in found) == (actor in STAFF_ACTORS)
    assert world.article_draft.pk not in found


def suggestions_for_ticket_a(client: Client, world: World, actor: str) -> None:
    data = _get(client, world, actor, f"/api/knowledge/suggestions/?ticket={world.ticket_a.key}")
    found = _ids(data)
    assert world.article_public.pk in found
    assert (world.article_internal.pk in found) == (actor in STAFF_ACTORS)


def category_counts(client: Client, world: World, actor: str) -> None:
    for path, item in (
        ("/api/knowledge/categories/", world.category),
        ("/api/knowledge/tags/", world.tag),
    ):
        rows = {row["id"]: row for row in _get(client, world, actor, path)["results"]}
        # Three articles carry it: public, internal and draft.
        assert rows[item.pk]["article_count"] == (3 if actor in STAFF_ACTORS else 1)


def staff_lists_hold_both_requesters(client: Client, world: World, actor: str) -> None:
    mail = _ids(_get(client, world, actor, "/api/email/messages/"))
    assert {world.mail_a.pk, world.mail_b.pk} <= mail
    events = _get(client, world, actor, "/api/events/?page_size=500")["results"]
    keys = {row["ticket_key"] for row in events}
    assert {world.ticket_a.key, world.ticket_b.key} <= keys
    assert world.breach_a.pk in _ids(_get(client, world, actor, "/api/sla/breaches/"))
    assert world.feedback_a.pk in _ids(_get(client, world, actor, "/api/knowledge/feedback/"))


def ratings_listed(client: Client, world: World, actor: str) -> None:
    rows = _get(client, world, actor, "/api/csat/")["results"]
    assert {row["id"] for row in rows} == {world.rating_a.pk}
    assert rows[0]["ticket"] == world.ticket_a_resolved.key


LISTS: list[tuple[str, ListCheck, tuple[str, ...]]] = [
    ("GET /api/tickets/ lists exactly the caller's tickets", tickets_listed,
     (*REQUESTERS, *STAFF_ACTORS)),
    ("GET /api/tickets/?requester= of the other requester lists nothing",
     tickets_filtered_by_the_other_requester, REQUESTERS),
    ("GET /api/tickets/{key}/comments/ holds internal comments for staff only",
     comments_listed, ("requester_a", *STAFF_ACTORS)),
    ("GET /api/forms/submissions/ lists exactly the caller's submissions", submissions_listed,
     (*REQUESTERS, *STAFF_ACTORS)),
    ("GET /api/forms/ lists draft forms for staff only", forms_listed,
     (*REQUESTERS, *STAFF_ACTORS)),
    ("GET /api/knowledge/articles/ lists published public articles to readers",
     articles_listed, ACTORS),
    ("GET /api/knowledge/articles/?visibility=INTERNAL is empty for readers",
     articles_filtered_to_internal, ACTORS),
    ("GET /api/knowledge/search/ finds internal articles for staff only", search_results,
     ACTORS),
    ("GET /api/knowledge/suggestions/ suggests internal articles to staff only",
     suggestions_for_ticket_a, ("requester_a", *STAFF_ACTORS)),
    ("GET /api/knowledge/categories/ and tags/ count what the caller may open",
     category_counts, ACTORS),
    ("GET the staff lists (mail, events, breaches, feedback) hold A's and B's",
     staff_lists_hold_both_requesters, STAFF_ACTORS),
    ("GET /api/csat/ lists the desk's ratings to staff", ratings_listed, STAFF_ACTORS),
]  # fmt: skip


@pytest.mark.parametrize(
    ("check", "actor"),
    [
        pytest.param(check, actor, id=f"{title} as {actor}")
        for title, check, actors in LISTS
        for actor in actors
    ],
)
def test_list_contents(check: ListCheck, actor: str, world: World, client: Client) -> None:
    check(client, world, actor)


# --- What the admin's bulk actions offer -------------------------------------------------
@pytest.mark.parametrize(
    ("label", "actor"),
    [
        pytest.param(label, actor, id=f"actions of /admin/{label.replace('.', '/')}/ as {actor}")
        for label, (agent, admin_, _) in ADMIN_MODELS.items()
        for actor, granted in (("agent", agent), ("admin", admin_))
        if set(granted.split()) & {"view", "change"}
    ],
)
def test_bulk_actions_need_the_declared_permissions(
    label: str, actor: str, world: World, client: Client
) -> None:
    """An action that deletes or changes rows is offered only to whoever may do that:
    a bulk action is not a page, and would not answer 403."""
    agent, admin_, _ = ADMIN_MODELS[label]
    granted = set((agent if actor == "agent" else admin_).split())
    client.cookies[settings.SESSION_COOKIE_NAME] = world.sessions[actor]
    response = client.get("/admin/" + label.replace(".", "/") + "/")
    assert response.status_code == 200
    model_admin = next(a for m, a in admin.site._registry.items() if m._meta.label_lower == label)
    # get_actions(), not get_action(name): the latter finds only the class's own methods
    # and the site's actions, not functions another app adds to ``actions`` (the
    # privacy app's export and erase on the people list).
    actions = model_admin.get_actions(response.wsgi_request)
    offered = set(actions)
    for name, (func, _, _) in actions.items():
        needed = set(getattr(func, "allowed_permissions", ())) & {"add", "change", "delete"}
        assert needed <= granted, f"{actor} is offered {name!r}, which needs {needed}"
    assert ("delete_selected" in offered) == ("delete" in granted)
    action_form = response.context.get("action_form")
    shown = set() if action_form is None else set(dict(action_form.fields["action"].choices))
    assert shown - {""} == offered


# --- What the portal lists ---------------------------------------------------------------
def _portal_listed(client: Client, world: World, actor: str, query: str) -> set[str]:
    client.cookies[settings.SESSION_COOKIE_NAME] = world.sessions[actor]
    response = client.get(f"/portal/?{query}")
    assert response.status_code == 200, response.content[:500]
    text = response.content.decode()
    return {key for key in world.tickets_of("admin") if f"/portal/tickets/{key}/" in text}


@pytest.mark.parametrize("actor", ["requester_a", "requester_b", "agent", "admin"])
def test_the_portal_lists_what_the_reader_requested_or_follows(
    actor: str, world: World, client: Client
) -> None:
    """One's own desk: requested or followed, whatever the role (the agent follows A's
    open ticket; the admin follows nothing and requested nothing)."""
    listed = _portal_listed(client, world, actor, "status=all")
    if actor in REQUESTERS:
        assert listed == world.tickets_of(actor)
        assert (world.ticket_a.key in listed) == (actor == "requester_a")
        assert (world.ticket_b.key in listed) == (actor == "requester_b")
    else:
        assert listed == ({world.ticket_a.key} if actor == "agent" else set())


@pytest.mark.parametrize("actor", ["requester_a", "agent"])
def test_the_portal_search_does_not_find_words_of_internal_notes(
    actor: str, world: World, client: Client
) -> None:
    """ "contract" is only in the internal note on A's ticket; "tray" is in its public
    comment."""
    assert _portal_listed(client, world, actor, "status=all&q=contract") == set()
    assert _portal_listed(client, world, actor, "status=all&q=tray") == {world.ticket_a.key}


def test_the_matrix_is_large_and_says_who_asks() -> None:
    # A guard against a generator bug that would quietly drop the cases.
    assert len(CASES) > 1000
    assert {case.actor for case in CASES} == set(ACTORS)


# --- Token scopes -------------------------------------------------------------------------
# Integration tokens (api_tokens) over the API's rows. Each API route's area is stated
# here by its path, apart from api_tokens/areas.py, which the first test holds to it.
# Then every API case of the matrix runs again as requester A, the agent and the admin
# with a token holding only the scope the route needs: the answer is the row's (the role
# still decides), and a token never makes tokens. And once more as the admin with a
# token holding every scope but the route's area: refused, whatever the role allows,
# with the message that names the missing scope.
# (path prefix, scope of reads, scope of writes); the longest prefix names a route's.
TOKEN_AREAS: list[tuple[str, str, str]] = [
    ("/api/auth/token/", NO_SCOPE, NO_SCOPE),
    ("/api/schema/", NO_SCOPE, NO_SCOPE),
    ("/api/docs/", NO_SCOPE, NO_SCOPE),
    ("/api/me/", ANY_TOKEN, "tickets:write"),
    ("/api/tickets/", "tickets:read", "tickets:write"),
    ("/api/views/", "tickets:read", "tickets:write"),
    ("/api/tags/", "tickets:read", "tickets:write"),
    ("/api/macros/", "tickets:read", "tickets:write"),
    ("/api/csat/", "tickets:read", "tickets:write"),
    ("/api/notifications/", "tickets:read", "tickets:write"),
    ("/api/reports/", "tickets:read", "tickets:write"),
    ("/api/workflows/", "tickets:read", "admin:write"),
    ("/api/teams/", "tickets:read", "admin:write"),
    ("/api/fields/", "tickets:read", "admin:write"),
    ("/api/routing-rules/", "admin:read", "admin:write"),
    ("/api/users/", "admin:read", "admin:write"),
    ("/api/events/", "admin:read", "admin:write"),
    ("/api/automation/", "admin:read", "admin:write"),
    ("/api/webhooks/", "admin:read", "admin:write"),
    ("/api/tokens/", "admin:read", "admin:write"),
    ("/api/knowledge/", "knowledge:read", "knowledge:write"),
    ("/api/forms/", "forms:read", "forms:write"),
    ("/api/sla/", "sla:read", "sla:write"),
    ("/api/email/", "mail:read", "mail:write"),
]
# Where a token's answer is not the row's.
TOKEN_OVERRIDES: dict[tuple[str, str], Outcome] = {
    # Tokens are made by a person (a session, or a legacy token), never by a token.
    ("POST", "/api/tokens/"): DENIED,
}


def token_scope(pattern: str, method: str) -> str:
    """The scope TOKEN_AREAS states for ``method`` at ``pattern``."""
    matches = [row for row in TOKEN_AREAS if pattern.startswith(row[0])]
    assert matches, f"{pattern} is in no area of TOKEN_AREAS"
    _, read, write = max(matches, key=lambda row: len(row[0]))
    return read if method in ("GET", "HEAD", "OPTIONS") else write


def _api_view_classes() -> dict[str, type]:
    from django.urls import URLPattern, URLResolver, get_resolver

    classes: dict[str, type] = {}

    def walk(patterns: list[URLPattern | URLResolver], prefix: str) -> None:
        for item in patterns:
            raw = prefix + str(item.pattern)
            if isinstance(item, URLResolver):
                walk(item.url_patterns, raw)
            elif display(raw).startswith("/api/"):
                classes.setdefault(display(raw), item.callback.cls)  # type: ignore[attr-defined]

    walk(get_resolver().url_patterns, "")
    return classes


def test_every_api_route_needs_the_scope_the_matrix_states() -> None:
    classes = _api_view_classes()
    wrong = []
    for route in ROUTES:
        if not route.is_api or route.methods is None:
            continue
        for method in sorted(route.methods):
            stated = token_scope(route.pattern, method)
            checked = required_scope(classes[route.pattern], method)
            if stated != checked:
                wrong.append(f"{method} {route.pattern}: matrix {stated}, api_tokens {checked}")
    assert not wrong, "\n".join(wrong)


@dataclass(frozen=True)
class TokenCase:
    case: Case
    label: str  # the token's key in world.scoped_tokens
    missing: str = ""  # the scope the refusal names, for the "without" cases

    def __str__(self) -> str:
        case = self.case
        note = f" ({case.entry.note})" if case.entry.note else ""
        return (
            f"{case.method} {case.entry.pattern}{note} as {case.actor} "
            f"with a {self.label} token -> {case.expected}"
        )


def _token_cases() -> Iterator[TokenCase]:
    for item in API:
        for method, row in item.expect.items():
            needed = token_scope(item.pattern, method)
            free = needed in (NO_SCOPE, ANY_TOKEN)
            for actor in TOKEN_ACTORS:
                if item.bug is not None and actor in item.bug[1]:
                    continue  # a known bug, xfailed in the matrix itself
                expected = TOKEN_OVERRIDES.get((method, item.pattern), getattr(row, actor))
                yield TokenCase(Case(item, method, actor, expected), "any" if free else needed)
            if not free:
                area = needed.partition(":")[0]
                yield TokenCase(Case(item, method, "admin", DENIED), f"without:{area}", needed)


TOKEN_CASES = list(_token_cases())


@pytest.mark.parametrize("token_case", [pytest.param(c, id=str(c)) for c in TOKEN_CASES])
def test_token_scopes(token_case: TokenCase, world: World, client: Client) -> None:
    case = token_case.case
    secret = world.scoped_tokens[(case.actor, token_case.label)]
    # Case.send sends the actor's token as "Token <key>", which integration tokens take.
    response = case.send(client, replace(world, tokens={case.actor: secret}))
    got = classify(response)
    assert got in case.expected.accepts, (
        f"{token_case}: got {response.status_code} ({got}) {_excerpt(response)}"
    )
    if token_case.missing:
        detail = {"detail": f"This token's scopes do not include {token_case.missing}."}
        assert json.loads(response.content) == detail
    text = body_text(response)
    leaked = [m for m in forbidden_markers(case.actor, case.entry.pattern) if m in text]
    assert not leaked, f"{token_case}: the response shows {leaked}:\n{text[:2000]}"


def test_the_token_cases_cover_every_api_case() -> None:
    assert len(TOKEN_CASES) > 500
    assert {c.case.actor for c in TOKEN_CASES} == set(TOKEN_ACTORS)
    covered = {(c.case.entry.pattern, c.case.method) for c in TOKEN_CASES}
    assert covered == {(item.pattern, m) for item in API for m in item.expect}
