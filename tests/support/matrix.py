"""The machinery of the permission matrix (tests/test_permission_matrix.py).

- ``discover_routes`` walks the root URLconf, so that a route added anywhere shows up in
  the matrix and fails it until someone says who may use it;
- ``Outcome`` and ``Row`` spell an expectation: what each of the five actors gets;
- ``classify`` turns a response into the word an outcome is stated in;
- ``seed_world`` writes one desk with something of everyone's:
  requester A's and requester B's tickets, comments, submissions and mail, internal
  comments and articles, an SLA breach, events, and one row of every model the admin
  shows, each app's part written by that app's services (so history, events and SLA
  clocks come along). Private text carries a marker (``MARKER_A``, ``MARKER_B``,
  ``MARKER_INTERNAL``, and the mail password ``MARKER_SECRET``), so that a test can tell
  from any response whether something leaked. The internal note on requester A's ticket
  carries ``MARKER_NOTE`` as well: no page of the requester side (the portal, the
  survey pages, the help center, the forms, the language chooser) shows it to anyone,
  staff included (``forbidden_markers``);
- the requester side's keys: the satisfaction survey of A's resolved ticket (a signed
  token, and one of a survey whose time to answer has passed), sign-in links of A's
  (valid and expired), and a "New request" attempt of A's that suggested the public
  article. The agent follows A's open ticket, so that the portal shows it to a staff
  member too (the public side only), and the admin follows nothing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NamedTuple
from urllib.parse import parse_qs, quote, urlsplit

from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpResponseBase
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.authtoken.models import Token

from nixflow.models import Comment, HistoryLog, Role, Stage, Ticket, User, Workflow
from tests.factories import UserFactory, default_workflow

# --- Who asks ---------------------------------------------------------------------------
ACTORS = ("anonymous", "requester_a", "requester_b", "agent", "admin")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")

# Words that appear only in what their owner (and staff) may read. Lower case, one
# token each, so that full-text search, HTML escaping and JSON never split them.
MARKER_A = "aprivatezq7731"
MARKER_B = "bprivatezq5519"
MARKER_INTERNAL = "internalzq4402"
# Stored secrets (the mail account's password) are written, never shown, to anyone.
MARKER_SECRET = "secretzq9061"
# In the internal note on A's ticket (its body and its file's name) besides
# MARKER_INTERNAL: internal articles carry MARKER_INTERNAL too, and staff may read those
# on the requester side (the help center, suggestions); a ticket's internal note they
# never find there.
MARKER_NOTE = "notezq8126"
FORBIDDEN_MARKERS: dict[str, tuple[str, ...]] = {
    "anonymous": (MARKER_A, MARKER_B, MARKER_INTERNAL, MARKER_SECRET),
    "requester_a": (MARKER_B, MARKER_INTERNAL, MARKER_SECRET),
    "requester_b": (MARKER_A, MARKER_INTERNAL, MARKER_SECRET),
    "agent": (MARKER_SECRET,),
    "admin": (MARKER_SECRET,),
}
# The requester side: pages a requester reads, whoever opens them.
REQUESTER_SIDE = ("/portal/", "/satisfaction/", "/help/", "/forms/", "/language/")


# Secrets the seeded desk made and that no answer may hold, whoever asks: the webhook
# endpoint's signing secret (shown once, when it was made), the integration tokens'
# (shown once too) and the mail accounts' OAuth2 client secrets, refresh and access
# tokens (written, never shown). seed_world fills it, lower case as body_text() reads
# answers.
SECRETS: list[str] = []


def forbidden_markers(actor: str, pattern: str) -> tuple[str, ...]:
    """What ``actor`` must never read in the answer of ``pattern``."""
    markers = (*FORBIDDEN_MARKERS.get(actor, FORBIDDEN_MARKERS["requester_a"]), *SECRETS)
    if pattern.startswith(REQUESTER_SIDE):
        return (*markers, MARKER_NOTE)
    return markers


# --- What they get ----------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """An expected answer: ``label`` for the test id, ``accepts`` the classify() words."""

    label: str
    accepts: frozenset[str]

    def __str__(self) -> str:
        return self.label


def outcome(label: str, *accepts: str) -> Outcome:
    return Outcome(label, frozenset(accepts))


OK = outcome("2xx", "ok")  # or, in the admin and pages, a redirect that is not to a login
DENIED = outcome("401/403", "denied")
HIDDEN = outcome("404", "hidden")  # someone else's, or not for you: as if it did not exist
NOT_ALLOWED = outcome("405", "not_allowed")
INVALID = outcome("400", "invalid")  # allowed in, but the request itself is refused
CONFLICT = outcome("409", "conflict")  # allowed in, but the object's state refuses it
GONE = outcome("410", "gone")  # a link whose time has passed
LOGIN = outcome("login", "login")  # redirected to a login page
TO_INDEX = outcome("admin index", "index")


class Row(NamedTuple):
    """One outcome per actor, in ACTORS order."""

    anonymous: Outcome
    requester_a: Outcome
    requester_b: Outcome
    agent: Outcome
    admin: Outcome


# The portal's sign-in page: a redirect there that carries ``next`` is "sign in first";
# without it, it is where signing out ends (``?signed_out=1``), an answer like any other.
PORTAL_SIGNIN = "/portal/signin/"


def classify(response: HttpResponseBase) -> str:
    code = response.status_code
    if 300 <= code < 400:
        target = urlsplit(response.get("Location", ""))
        location = target.path
        if location.endswith("/login/"):
            return "login"
        if location == PORTAL_SIGNIN and "next" in parse_qs(target.query):
            return "login"
        if location == "/admin/":
            # The admin's answer to an object id it cannot find, and to a logout without
            # a session: never what a matrix case means by OK.
            return "index"
        return "ok"
    return {
        401: "denied",
        403: "denied",
        404: "hidden",
        405: "not_allowed",
        400: "invalid",
        409: "conflict",
        410: "gone",
    }.get(code, "ok" if 200 <= code < 300 else f"status {code}")


def body_text(response: HttpResponseBase) -> str:
    """The body (streamed ones read to the end) and the download file name, lower case,
    without the address asked for: a page that links back to it (a 404's "sign in and
    come back") tells the reader only what they sent."""
    if getattr(response, "streaming", False):
        # The test client closes the response once the content is read to its end;
        # closing it again would fire request_finished, whose handler closes the
        # database connection (and with it the module's transaction).
        content = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    else:
        content = response.content  # type: ignore[attr-defined]
    disposition = response.get("Content-Disposition", "")
    text = (content.decode("utf-8", "replace") + "\n" + disposition).lower()
    request = getattr(response, "wsgi_request", None)
    if request is not None:
        for asked in sorted({request.path, quote(request.path)}, key=len, reverse=True):
            text = text.replace(asked.lower(), "")
    return text


# --- The routes -------------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    pattern: str  # "/api/tickets/{key}/"
    methods: frozenset[str] | None  # None: a plain Django view, which takes any method
    name: str | None

    @property
    def is_api(self) -> bool:
        return self.pattern.startswith("/api/")

    @property
    def is_admin(self) -> bool:
        return self.pattern.startswith("/admin/")


_ROUTE_PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")


def _named_groups(regex: str) -> str:
    """``tickets/(?P<key>NF-[0-9]{0,17})/`` → ``tickets/{key}/`` (groups may nest)."""
    out, i = [], 0
    while i < len(regex):
        match = re.compile(r"\(\?P<(\w+)>").match(regex, i)
        if match is None:
            out.append(regex[i])
            i += 1
            continue
        depth, j = 1, match.end()
        while depth:
            if regex[j] == "\\":
                j += 2
                continue
            depth += {"(": 1, ")": -1}.get(regex[j], 0)
            j += 1
        out.append("{" + match.group(1) + "}")
        i = j
    return "".join(out)


def display(route: str) -> str:
    """A resolver route (``ResolverMatch.route``, or patterns joined) as one readable
    pattern: path() converters and regex groups become ``{name}``, anchors go."""
    text = _ROUTE_PARAMETER.sub(r"{\1}", _named_groups(route))
    return "/" + text.replace("^", "").replace("$", "")


def _methods(callback: Callable[..., Any]) -> frozenset[str] | None:
    actions = getattr(callback, "actions", None)
    if actions:  # a DRF viewset route: its method → action map
        return frozenset(method.upper() for method in actions)
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if cls is not None:
        names = {"get", "post", "put", "patch", "delete"} & set(cls.http_method_names)
        return frozenset(name.upper() for name in names if hasattr(cls, name))
    return None


def discover_routes() -> list[Route]:
    """Every URL pattern of the root URLconf, in resolution order."""
    routes: list[Route] = []

    def walk(patterns: list[URLPattern | URLResolver], prefix: str) -> None:
        for entry in patterns:
            raw = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, raw)
            else:
                routes.append(Route(display(raw), _methods(entry.callback), entry.name))

    walk(get_resolver().url_patterns, "")
    return routes


def fill(pattern: str, params: Mapping[str, Any]) -> str:
    """The pattern with its ``{name}`` parameters replaced by ``params``."""

    def value(match: re.Match[str]) -> str:
        return str(params[match.group(1)])

    return re.sub(r"\{(\w+)\}", value, pattern)


# --- The desk ---------------------------------------------------------------------------
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
PASSWORD = "correct horse battery staple"


@dataclass
class World:
    """What seed_world wrote; attribute names say whose it is."""

    users: dict[str, User]
    tokens: dict[str, str]
    workflow: Workflow
    stage_open: Stage
    ticket_a: Ticket
    ticket_b: Ticket
    ticket_a_resolved: Ticket
    comment_public_a: Comment
    comment_internal_a: Comment
    attachment_public_a: int
    attachment_internal_a: int
    history_a: HistoryLog
    objects: dict[str, Any] = field(default_factory=dict)
    # Session cookies by actor, signed in once: a sign-in per request would cost a
    # session row, the last-login update and django-axes' bookkeeping every time.
    sessions: dict[str, str] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        # The feature apps' rows, by name: world.breach_a, world.article_internal, ...
        try:
            return self.__dict__["objects"][name]
        except KeyError:
            raise AttributeError(name) from None

    def tickets_of(self, actor: str) -> set[str]:
        tickets = Ticket.objects.all()
        if actor.startswith("requester"):
            tickets = tickets.filter(requester=self.users[actor])
        return {ticket.key for ticket in tickets}


def _user(actor: str) -> User:
    role = {"agent": Role.AGENT, "admin": Role.ADMIN}.get(actor, Role.REQUESTER)
    return UserFactory(username=f"matrix_{actor}", role=role, password=PASSWORD)


def seed_world() -> World:
    """One desk with something of everyone's, written through the services as a real
    desk would be (history, events and SLA clocks come along)."""
    from nixflow import services

    users = {actor: _user(actor) for actor in ACTORS if actor != "anonymous"}
    # Not an actor of the matrix: a requester someone made staff by mistake, who must
    # still get nothing from the admin (tests/test_permission_matrix.py says so).
    staff_requester = UserFactory(
        username="matrix_staff_requester", role=Role.REQUESTER, is_staff=True
    )
    tokens = {actor: Token.objects.create(user=user).key for actor, user in users.items()}
    a, b, agent = users["requester_a"], users["requester_b"], users["agent"]
    workflow = default_workflow()
    stages = {stage.name: stage for stage in workflow.stages.all()}

    sla = _seed_sla()
    ticket_a = services.ticket_create(
        requester=a, title=f"Printer jams {MARKER_A}", description="Paper jam.", actor=a
    )
    ticket_b = services.ticket_create(
        requester=b, title=f"Laptop screen {MARKER_B}", description="Flickers.", actor=b
    )
    resolved = services.ticket_create(requester=a, title="Printer toner", actor=a)
    services.ticket_transition(ticket=resolved, to_stage=stages["Resolved"], actor=agent)
    public = services.comment_create(
        ticket=ticket_a,
        author=agent,
        body=f"Try the other tray, {MARKER_A}.",
        attachments=[SimpleUploadedFile("steps.txt", b"1. open tray", "text/plain")],
    )
    internal = services.comment_create(
        ticket=ticket_a,
        author=agent,
        body=f"Printer vendor contract lapsed {MARKER_INTERNAL} {MARKER_NOTE}.",
        is_internal=True,
        attachments=[
            SimpleUploadedFile(f"{MARKER_INTERNAL}-{MARKER_NOTE}.txt", b"contract", "text/plain")
        ],
    )
    services.comment_create(ticket=ticket_b, author=agent, body=f"Which model? {MARKER_B}")

    world = World(
        users=users,
        tokens=tokens,
        workflow=workflow,
        stage_open=stages["Open"],
        ticket_a=ticket_a,
        ticket_b=ticket_b,
        ticket_a_resolved=resolved,
        comment_public_a=public,
        comment_internal_a=internal,
        attachment_public_a=public.attachments.get().pk,
        attachment_internal_a=internal.attachments.get().pk,
        history_a=HistoryLog.objects.filter(ticket=ticket_a).order_by("id").first(),
    )
    world.objects["staff_requester"] = staff_requester
    world.objects.update(sla)
    world.objects.update(_seed_breach(ticket_a))
    world.objects.update(_seed_mail(world))
    world.objects.update(_seed_forms(world))
    world.objects.update(_seed_knowledge(world))
    world.objects.update(_seed_admin_only(world))
    world.objects.update(_seed_notifications(world))
    world.objects.update(_seed_teams(world))
    world.objects.update(_seed_ticket_work(world))
    world.objects.update(_seed_surveys(world))
    world.objects.update(_seed_portal(world))
    for actor, user in [*users.items(), ("staff_requester", staff_requester)]:
        client = Client()
        client.force_login(user)
        world.sessions[actor] = client.cookies[settings.SESSION_COOKIE_NAME].value
    # After the sign-ins above: a sign-in link is made of the last sign-in's time.
    world.objects.update(_seed_signin_links(world))
    world.objects.update(_seed_tokens(world))
    world.objects.update(_seed_fields_rules_webhooks(world))
    return world


def _seed_sla() -> dict[str, Any]:
    from sla.models import BusinessCalendar, MetricType, SLAPolicy, SLATarget

    calendar = BusinessCalendar.objects.create(name="Matrix 24x7")
    spare_calendar = BusinessCalendar.objects.create(name="Matrix unused calendar")
    policy = SLAPolicy.objects.create(name="Matrix standard", order=1, calendar=calendar)
    SLATarget.objects.bulk_create(
        SLATarget(policy=policy, priority=priority, metric_type=metric, minutes=60)
        for priority in ("LOW", "NORMAL", "HIGH", "URGENT")
        for metric in MetricType.values
    )
    # Inactive: it never starts a clock, so nothing protects it from deletion.
    spare_policy = SLAPolicy.objects.create(name="Matrix unused policy", order=2, is_active=False)
    return {
        "calendar": calendar,
        "calendar_spare": spare_calendar,
        "policy": policy,
        "policy_spare": spare_policy,
    }


def _seed_breach(ticket: Ticket) -> dict[str, Any]:
    from sla import clocks
    from sla.models import SLABreach

    metric = ticket.sla_metrics.order_by("id").first()
    assert metric is not None, "the SLA policy started no clock on requester A's ticket"
    clocks.record_breach(metric, breached_at=timezone.now())
    return {"metric_a": metric, "breach_a": SLABreach.objects.get(metric=metric)}


def _raw_mail(sender: str, ticket: Ticket, marker: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: help@matrix.test\r\n"
        f"Subject: [{ticket.key}] Still broken {marker}\r\n"
        f"Message-ID: <{uuid.uuid4()}@matrix.test>\r\n"
        f"Date: Mon, 02 Mar 2026 09:00:00 +0000\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"It is still broken, {marker}.\r\n"
    ).encode()


def _seed_mail(world: World) -> dict[str, Any]:
    from email_integration import services
    from email_integration.models import AuthMethod, EmailAccount, InboundProtocol, OAuthProvider

    # Each account holds OAuth2 secrets of its own: the help account signs in with its
    # password (so its consent page refuses to start), yet keeps what an earlier OAuth2
    # setup stored; the spare one is an authorized OAuth2 account.
    oauth = {
        name: {
            "oauth_client_secret": f"oauthclient{name}zq3307",
            "oauth_refresh_token": f"oauthrefresh{name}zq6650",
            "oauth_access_token": f"oauthaccess{name}zq2419",
        }
        for name in ("help", "spare")
    }
    account = EmailAccount.objects.create(
        name="Matrix help",
        address="help@matrix.test",
        protocol=InboundProtocol.NONE,
        username="help",
        password=MARKER_SECRET,
        oauth_provider=OAuthProvider.GOOGLE,
        oauth_client_id="matrix-help.apps.example",
        **oauth["help"],
    )
    spare = EmailAccount.objects.create(
        name="Matrix unused",
        address="unused@matrix.test",
        protocol=InboundProtocol.NONE,
        auth_method=AuthMethod.OAUTH2,
        oauth_provider=OAuthProvider.GOOGLE,
        oauth_client_id="matrix-spare.apps.example",
        oauth_authorized_at=timezone.now(),
        oauth_expires_at=timezone.now() + timedelta(hours=1),
        **oauth["spare"],
    )
    mail = {}
    for actor, ticket, marker in (
        ("a", world.ticket_a, MARKER_A),
        ("b", world.ticket_b, MARKER_B),
    ):
        sender = world.users[f"requester_{actor}"].email
        message, _ = services.message_store(account=account, raw=_raw_mail(sender, ticket, marker))
        mail[f"mail_{actor}"] = services.message_process(message=message)
        assert mail[f"mail_{actor}"].ticket_id == ticket.pk, mail[f"mail_{actor}"].error_reason
    secrets = [secret for stored in oauth.values() for secret in stored.values()]
    return {"account": account, "account_spare": spare, "oauth_secrets": secrets, **mail}


def _seed_forms(world: World) -> dict[str, Any]:
    from forms_builder import services
    from forms_builder.models import (
        CustomForm,
        FormField,
        FormFieldType,
        FormStatus,
        FormSubmission,
        FormSubmissionStatus,
    )

    agent = world.users["agent"]

    def make(name: str, slug: str, *, status: FormStatus, **values: Any) -> CustomForm:
        fields = [
            FormField(key="details", label="What happens?", field_type=FormFieldType.TEXT,
                      required=True, order=10),
            FormField(key="screenshot", label="Screenshot", field_type=FormFieldType.FILE,
                      allowed_file_types="png", max_file_size=10_000, order=20),
        ]  # fmt: skip
        form = services.form_save(
            form=CustomForm(name=name, slug=slug, description_field="details", **values),
            changed_fields=fields,
            actor=agent,
        )
        if status != FormStatus.DRAFT:
            form = services.form_set_status(form=form, status=status, actor=agent)
        return form

    public = make(
        "Report a problem", "matrix-problem", status=FormStatus.PUBLISHED, login_required=False
    )
    login = make(
        "Order a laptop", "matrix-laptop", status=FormStatus.PUBLISHED, login_required=True
    )
    draft = make(f"Draft {MARKER_INTERNAL}", "matrix-draft", status=FormStatus.DRAFT)
    submissions = {}
    for actor, marker in (("a", MARKER_A), ("b", MARKER_B)):
        submissions[f"submission_{actor}"] = services.submission_create(
            form=public,
            data={"details": f"Scanner broken {marker}"},
            files={"screenshot": [SimpleUploadedFile("shot.png", PNG, "image/png")]},
            submitter=world.users[f"requester_{actor}"],
        )
    # A submission whose ticket could not be opened: what convert/ and reject/ act on.
    failed = FormSubmission.objects.get(pk=submissions["submission_a"].pk)
    failed.pk, failed.ticket = None, None
    failed.status = FormSubmissionStatus.FAILED
    failed.status_reason = "The workflow was inactive."
    failed.save()
    return {
        "form_public": public,
        "form_login": login,
        "form_draft": draft,
        "submission_a_failed": failed,
        "submission_file_a": submissions["submission_a"].attachments.get().pk,
        **submissions,
    }


def _seed_knowledge(world: World) -> dict[str, Any]:
    from knowledge import services
    from knowledge.models import KnowledgeArticleStatus, Visibility

    agent, a = world.users["agent"], world.users["requester_a"]
    category = services.category_create(name="Printing", actor=agent)
    spare_category = services.category_create(name="Matrix unused category", actor=agent)
    tag = services.tag_create(name="printer", actor=agent)
    spare_tag = services.tag_create(name="matrix-unused", actor=agent)

    def article(title: str, body: str, visibility: str, status: str) -> Any:
        made = services.article_create(
            title=title,
            body=body,
            visibility=Visibility(visibility),
            category=category,
            tags=[tag],
            author=agent,
        )
        path = ["IN_REVIEW", "PUBLISHED"] if status == KnowledgeArticleStatus.PUBLISHED else []
        for step in path:
            made = services.article_transition(article=made, to_status=step, actor=agent)
        return made

    # The three share the words of requester A's ticket ("printer jams"), so that search
    # and suggestions would find each of them if visibility let them.
    public = article(
        "Printer jams: clear the paper path",
        "Open the printer and clear the jam.",
        Visibility.PUBLIC,
        KnowledgeArticleStatus.PUBLISHED,
    )
    internal = article(
        f"Printer jams: vendor escalation {MARKER_INTERNAL}",
        f"Call the printer vendor hotline {MARKER_INTERNAL}.",
        Visibility.INTERNAL,
        KnowledgeArticleStatus.PUBLISHED,
    )
    draft = article(
        f"Printer jams: new tray {MARKER_INTERNAL}",
        f"Draft printer notes {MARKER_INTERNAL}.",
        Visibility.PUBLIC,
        KnowledgeArticleStatus.DRAFT,
    )
    # A second version, for versions/{number}/, diff/ and restore/.
    public = services.article_update(
        article=public, actor=agent, data={"body": "Open the printer; clear the jam."}, note="v2"
    )
    files = {}
    for name, item in (("public", public), ("internal", internal)):
        upload = SimpleUploadedFile(f"{name}.png", PNG, "image/png")
        files[f"kb_attachment_{name}"] = services.attachment_add(
            article=item, upload=upload, actor=agent
        ).pk
    feedback = services.feedback_create(
        article=public, author=a, comment=f"Step two is unclear {MARKER_A}"
    )
    services.article_link_ticket(article=public, ticket=world.ticket_a, actor=agent)
    search = services.search_record(
        query="printer", normalized_query="printer", user=a, results_count=1
    )
    return {
        "category": category,
        "category_spare": spare_category,
        "tag": tag,
        "tag_spare": spare_tag,
        "article_public": public,
        "article_internal": internal,
        "article_draft": draft,
        "feedback_a": feedback,
        "search_a": search,
        **files,
    }


def _seed_notifications(world: World) -> dict[str, Any]:
    """A notification of the agent's (each agent sees and opens only their own)."""
    from notifications.models import Kind, Notification

    notification = Notification.objects.create(
        recipient=world.users["agent"],
        ticket=world.ticket_a,
        event=world.event_a,
        kind=Kind.ASSIGNED,
        reasons=["assigned"],
        text=f"{world.ticket_a.key} was assigned to you",
    )
    return {"notification_agent": notification}


def _seed_teams(world: World) -> dict[str, Any]:
    """A team with the agent in it (no tickets: admins may delete it), a rule, and the
    agent's personal saved view."""
    from nixflow import services

    team = services.team_create(
        actor=None, data={"name": "Matrix team"}, members=[{"user": world.users["agent"]}]
    )
    rule = services.routing_rule_create(
        actor=None, data={"name": "Matrix rule", "team": team, "requester_domain": "matrix.test"}
    )
    from nixflow.services.saved_views import saved_view_create

    view = saved_view_create(
        owner=world.users["agent"],
        actor=world.users["agent"],
        name="Matrix view",
        query="priority__exact=HIGH",
    )
    return {"team": team, "routing_rule": rule, "saved_view": view}


def _seed_ticket_work(world: World) -> dict[str, Any]:
    """Macros (a global one and the agent's own) and a link from ticket A to ticket B,
    which requester A must never see B's key through."""
    from macros.services import macro_bulk_enqueue, macro_create
    from nixflow.models import LinkKind
    from nixflow.services import ticket_link

    agent = world.users["agent"]
    global_macro = macro_create(
        actor=None, data={"name": "Matrix thanks", "body": "Thanks!", "scope": "global"}
    )
    own = macro_create(
        actor=agent,
        data={
            "name": "Matrix mine",
            "body": "Hello {{ requester.first_name }}",
            "scope": "personal",
        },
    )
    link = ticket_link(
        source=world.ticket_a, target=world.ticket_b, kind=LinkKind.RELATED, actor=agent
    )
    bulk = macro_bulk_enqueue(macro=own, tickets=[world.ticket_a], actor=agent)
    return {"macro_global": global_macro, "macro_agent": own, "link_ab": link, "bulk_apply": bulk}


def _seed_admin_only(world: World) -> dict[str, Any]:
    """Rows that only the admin shows: a group, a seal, an outbox message, the beat
    schedules, sign-in attempts."""
    from django_celery_beat.models import (
        ClockedSchedule,
        CrontabSchedule,
        IntervalSchedule,
        PeriodicTask,
        SolarSchedule,
    )

    from eventlog.models import EventLog, OutboxMessage, Seal

    interval, _ = IntervalSchedule.objects.get_or_create(every=7, period="minutes")
    event = EventLog.objects.filter(ticket_key=world.ticket_a.key).order_by("id").first()
    rows: dict[str, Any] = {}
    if apps.is_installed("axes"):
        from axes.models import AccessAttempt, AccessFailureLog, AccessLog

        seen = {"user_agent": "matrix", "ip_address": "192.0.2.1", "username": "nobody"}
        rows["access_attempt"] = AccessAttempt.objects.create(
            **seen, get_data="", post_data="", failures_since_start=1
        )
        rows["access_log"] = AccessLog.objects.create(**seen)
        rows["access_failure"] = AccessFailureLog.objects.create(**seen)
    return {
        **rows,
        "group": Group.objects.create(name="Matrix group"),
        "event_a": event,
        "seal": Seal.objects.create(
            first_event_id=10**12,
            last_event_id=10**12,
            event_count=0,
            previous_digest=b"\0" * 32,
            digest=b"\0" * 32,
        ),
        "outbox_message": OutboxMessage.objects.create(task="nixflow.matrix", key="matrix"),
        "interval": interval,
        "crontab": CrontabSchedule.objects.create(minute="7", hour="3"),
        "solar": SolarSchedule.objects.create(event="sunrise", latitude=50, longitude=8),
        "clocked": ClockedSchedule.objects.create(clocked_time=timezone.now() + timedelta(days=1)),
        "periodic_task": PeriodicTask.objects.create(
            name="Matrix task", task="nixflow.matrix", interval=interval
        ),
    }


def _seed_surveys(world: World) -> dict[str, Any]:
    """The survey of A's resolved ticket, mailed and answered (its signed token is the
    key of its pages), and one of B's whose time to answer has passed; a policy row."""
    from csat import services
    from csat.models import Survey, SurveyPolicy
    from nixflow import services as core

    a, b, agent = world.users["requester_a"], world.users["requester_b"], world.users["agent"]
    resolved = Stage.objects.get(workflow=world.workflow, name="Resolved")
    policy = SurveyPolicy.objects.create(workflow=world.workflow, changeable_days=7)
    ticket_b_resolved = core.ticket_create(requester=b, title="Monitor cable", actor=b)
    core.ticket_transition(ticket=ticket_b_resolved, to_stage=resolved, actor=agent)
    surveys = {}
    for name, ticket, requester in (
        ("survey_a", world.ticket_a_resolved, a),
        ("survey_b_closed", ticket_b_resolved, b),
    ):
        # Resolving armed and queued it (csat.receivers); the worker would mail it.
        survey = Survey.objects.get(ticket=ticket)
        sent = services.survey_mark_sent(survey_id=survey.pk, requester_id=requester.pk)
        assert sent is not None, survey.status_reason
        surveys[name] = sent
    Survey.objects.filter(pk=surveys["survey_b_closed"].pk).update(
        closes_at=timezone.now() - timedelta(minutes=1)
    )
    rating = services.rating_record(
        survey=surveys["survey_a"], requester=a, rating="good", comment="Quick and kind."
    ).rating
    return {
        **surveys,
        "ticket_b_resolved": ticket_b_resolved,
        "survey_policy": policy,
        "rating_a": rating,
        "survey_token_a": services.survey_token(ticket_id=world.ticket_a_resolved.pk,
                                                requester_id=a.pk),
        "survey_token_b_closed": services.survey_token(ticket_id=ticket_b_resolved.pk,
                                                       requester_id=b.pk),
    }  # fmt: skip


def _seed_portal(world: World) -> dict[str, Any]:
    """A "New request" attempt of A's that showed the public article; the agent follows
    A's ticket (the admin follows nothing)."""
    from nixflow import services as core
    from portal.models import DeflectionAttempt
    from portal.services import deflection_shown

    a = world.users["requester_a"]
    token = str(uuid.uuid4())
    deflection_shown(
        requester=a, token=token, subject="Printer jams", article_ids=[world.article_public.pk]
    )
    core.ticket_watch(ticket=world.ticket_a, user=world.users["agent"], actor=world.users["agent"])
    return {"deflection_a": DeflectionAttempt.objects.get(token=token)}


def _seed_signin_links(world: World) -> dict[str, Any]:
    """A's sign-in links: one that works (until someone signs in as A) and one whose
    time has passed."""
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    from portal.access import signin_tokens

    a = User.objects.get(pk=world.users["requester_a"].pk)  # with the last sign-in's time
    expired_at = signin_tokens._num_seconds(signin_tokens._now()) - 2 * 86400
    return {
        "link_uid_a": urlsafe_base64_encode(force_bytes(a.pk)),
        "link_token_a": signin_tokens.make_token(a),
        "link_token_a_expired": signin_tokens._make_token_with_timestamp(
            a, expired_at, signin_tokens.secret
        ),
    }


# --- Integration tokens (api_tokens) -----------------------------------------------------
# Actors the token-scope cases run as, and the scope labels their tokens are keyed by:
# each scope alone, "any" (a token for routes that need no particular scope) and
# "without:<area>" (every scope but the area's, the admin's only).
TOKEN_ACTORS = ("requester_a", "agent", "admin")


def _seed_tokens(world: World) -> dict[str, Any]:
    """Requester A's and the agent's own integration tokens (the API's and the admin's
    pages open them), and the token-scope cases' tokens: ``scoped_tokens[(actor,
    label)]`` is the string of a token of ``actor``'s."""
    from api_tokens.scopes import AREAS, SCOPES
    from api_tokens.services import api_token_create

    def make(actor: str, name: str, scopes: list[str]) -> Any:
        return api_token_create(actor=world.users[actor], name=name, scopes=scopes)

    scoped: dict[tuple[str, str], str] = {}
    for actor in TOKEN_ACTORS:
        for scope in SCOPES:
            scoped[(actor, scope)] = make(actor, f"Matrix {scope}", [scope]).secret
        scoped[(actor, "any")] = make(actor, "Matrix any", ["sla:read"]).secret
    for area in AREAS:
        others = [scope for scope in SCOPES if not scope.startswith(f"{area}:")]
        scoped[("admin", f"without:{area}")] = make("admin", f"Matrix no {area}", others).secret
    token_a = make("requester_a", f"Matrix script {MARKER_A}", ["tickets:read"])
    token_agent = make("agent", "Matrix agent sync", ["tickets:write"])
    return {
        "token_a": token_a.token,
        "token_agent": token_agent.token,
        "scoped_tokens": scoped,
        "token_secrets": [token_a.secret, token_agent.secret, *scoped.values()],
    }


# --- Custom fields, automation rules, webhooks ---------------------------------------------
def _seed_fields_rules_webhooks(world: World) -> dict[str, Any]:
    """A custom field whose value on A's ticket carries ``MARKER_INTERNAL`` (requesters
    never read custom field values) and an unused one; an automation rule; a webhook
    endpoint (its secret and the seeded tokens' go to ``SECRETS``) with one delivery."""
    from automation.api.serializers import RuleWriteSerializer
    from automation.services import rule_create
    from nixflow.services import ticket_field_create
    from nixflow.services.fields import ticket_fields_set
    from webhooks.services import endpoint_create, endpoint_send_test

    admin, agent = world.users["admin"], world.users["agent"]
    field = ticket_field_create(
        actor=admin, data={"name": "contract_ref", "label": "Contract", "type": "text"}
    )
    spare = ticket_field_create(
        actor=admin, data={"name": "matrix_spare", "label": "Matrix unused", "type": "number"}
    )
    ticket_fields_set(
        ticket=world.ticket_a, actor=agent, values={"contract_ref": f"C-{MARKER_INTERNAL}"}
    )
    world.ticket_a.refresh_from_db()
    rule = RuleWriteSerializer(data=rule_definition("Matrix VIP rule", world.team.pk))
    rule.is_valid(raise_exception=True)
    endpoint, secret = endpoint_create(
        actor=admin,
        data={
            "name": "Matrix hook",
            "url": "https://hooks.example.com/matrix",
            "event_types": ["ticket.*"],
        },
    )
    delivery = endpoint_send_test(endpoint=endpoint, actor=admin)
    SECRETS[:] = [made.lower() for made in (secret, *world.token_secrets, *world.oauth_secrets)]
    return {
        "ticket_field": field,
        "ticket_field_spare": spare,
        "rule": rule_create(actor=admin, data=dict(rule.validated_data)),
        "endpoint": endpoint,
        "delivery": delivery,
    }


def rule_definition(name: str, team_id: int) -> dict[str, Any]:
    """An automation rule as the API takes it."""
    return {
        "name": name,
        "trigger": "ticket_created",
        "conditions": [{"field": "requester_domain", "op": "is", "value": "vip.example"}],
        "actions": [{"type": "set_team", "team": team_id}],
    }
