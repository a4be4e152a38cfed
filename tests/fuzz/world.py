"""A small, complete world for the API fuzzer: one of every object the API addresses.

Built through the services, as the API itself would build it (history, events and SLA
clocks included), so that generated requests whose path names these objects reach the
views' real code instead of stopping at a 404. ``World.path_values`` tells the fuzzer
which objects an operation's path parameters can name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.authtoken.models import Token

from email_integration import services as email_services
from email_integration.models import EmailAccount, EmailMessage, InboundProtocol
from eventlog.models import EventLog
from forms_builder import services as form_services
from forms_builder.models import (
    CustomForm,
    FormField,
    FormFieldType,
    FormStatus,
    FormSubmission,
)
from knowledge import services as kb_services
from knowledge.models import (
    KBCategory,
    KnowledgeArticle,
    KnowledgeArticleStatus,
    KnowledgeCategory,
    KnowledgeTag,
    Visibility,
)
from nixflow import services
from nixflow.models import Priority, Role, Ticket, User, Workflow
from sla import services as sla_services
from sla.models import BusinessCalendar, MetricType, SLABreach, SLAPolicy, SLATarget
from tests.factories import UserFactory, default_workflow

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
RAW_MAIL = (
    b"From: Carol Example <carol@example.com>\r\n"
    b"To: help@desk.test\r\n"
    b"Subject: Printer on fire\r\n"
    b"Message-ID: <fuzz-seed@example.com>\r\n"
    b"\r\n"
    b"It smokes since this morning.\r\n"
)


@dataclass
class World:
    agent: User
    requester: User
    tokens: dict[str, str]
    workflow: Workflow
    ticket: Ticket
    attachment_id: int
    form: CustomForm
    spare_form: CustomForm
    submission: FormSubmission
    calendar: BusinessCalendar
    spare_calendar: BusinessCalendar
    policy: SLAPolicy
    spare_policy: SLAPolicy
    breach: SLABreach
    account: EmailAccount
    spare_account: EmailAccount
    message: EmailMessage
    event: EventLog
    article: KnowledgeArticle
    spare_article: KnowledgeArticle
    article_attachment_id: int
    category: KnowledgeCategory
    spare_category: KnowledgeCategory
    tag: KnowledgeTag
    spare_tag: KnowledgeTag
    feedback_id: int
    search_id: str
    # Custom fields, automation rules, webhooks, integration tokens: each with a spare.
    more: dict[str, Any] = field(default_factory=dict)

    def path_values(self, method: str, path: str) -> dict[str, Any]:
        """Path parameters naming real objects for ``method path``.

        Operations that remove or retire an object (DELETE, a form's status) get spares,
        so that the operations fuzzed after them still find the objects they need.
        """
        spare = method.upper() == "DELETE" or path.endswith("/status/")
        values: dict[str, Any] = {}
        for prefix, names in self._by_prefix(spare=spare):
            if path.startswith(prefix):
                values.update(names)
        return values

    def _by_prefix(self, *, spare: bool) -> list[tuple[str, dict[str, Any]]]:
        article = self.spare_article if spare else self.article
        return [
            ("/api/tickets/", {"key": self.ticket.key, "attachment_id": self.attachment_id}),
            ("/api/workflows/", {"id": self.workflow.pk}),
            ("/api/events/", {"id": self.event.pk}),
            ("/api/email/accounts/", {"id": (self.spare_account if spare else self.account).pk}),
            ("/api/email/inbound/", {"account_id": self.account.pk}),
            ("/api/email/messages/", {"id": self.message.pk}),
            ("/api/forms/", {"slug": (self.spare_form if spare else self.form).slug}),
            ("/api/forms/submissions/", {"id": str(self.submission.pk)}),
            ("/api/sla/policies/", {"id": (self.spare_policy if spare else self.policy).pk}),
            ("/api/sla/calendars/", {"id": (self.spare_calendar if spare else self.calendar).pk}),
            ("/api/sla/breaches/", {"id": self.breach.pk}),
            ("/api/sla/metrics/", {"id": self.breach.metric_id}),
            (
                "/api/knowledge/articles/",
                {
                    "id": str(article.pk),
                    "attachment_id": self.article_attachment_id,
                    "number": 1,
                },
            ),
            (
                "/api/knowledge/categories/",
                {"id": str((self.spare_category if spare else self.category).pk)},
            ),
            ("/api/knowledge/tags/", {"id": str((self.spare_tag if spare else self.tag).pk)}),
            ("/api/knowledge/feedback/", {"id": str(self.feedback_id)}),
            ("/api/knowledge/search/", {"search_id": self.search_id}),
            # A built-in view, which every agent has (saved ones are numbers).
            ("/api/views/", {"id": "mine"}),
            *self._newer_by_prefix(spare=spare),
        ]

    def _newer_by_prefix(self, *, spare: bool) -> list[tuple[str, dict[str, Any]]]:
        if not self.more:
            return []
        more = self.more
        pick = "spare_" if spare else ""
        return [
            ("/api/fields/", {"id": more[f"{pick}field"].pk}),
            ("/api/automation/rules/", {"id": more[f"{pick}rule"].pk}),
            (
                "/api/webhooks/",
                {"id": more[f"{pick}endpoint"].pk, "delivery_id": more["delivery"].pk},
            ),
            ("/api/tokens/", {"id": more[f"{pick}token"].pk}),
            ("/api/reports/", {"name": "volume"}),
        ]


def _form(designer: User, *, slug: str, login_required: bool) -> CustomForm:
    fields = [
        FormField(key="summary", label="Summary", field_type=FormFieldType.TEXT, required=True),
        FormField(
            key="impact",
            label="Who is affected?",
            field_type=FormFieldType.RADIO,
            choices=["Just me", "Everyone"],
            order=20,
        ),
    ]
    form = form_services.form_save(
        form=CustomForm(
            name=slug.replace("-", " ").capitalize(),
            slug=slug,
            login_required=login_required,
            title_template="{summary}",
        ),
        changed_fields=fields,
        actor=designer,
    )
    return form_services.form_set_status(form=form, status=FormStatus.PUBLISHED, actor=designer)


def _article(editor: User, title: str, *, publish: bool) -> KnowledgeArticle:
    article = kb_services.article_create(
        title=title,
        body="Open the self-service portal and choose **Forgot password**.",
        summary="Resetting a password.",
        visibility=Visibility.PUBLIC,
        kind=KBCategory.HOW_TO,
        category=None,
        author=editor,
    )
    if publish:
        for step in (KnowledgeArticleStatus.IN_REVIEW, KnowledgeArticleStatus.PUBLISHED):
            article = kb_services.article_transition(article=article, to_status=step, actor=editor)
    return article


def build_world() -> World:
    workflow = default_workflow()
    admin = UserFactory(username="fuzz-admin", role=Role.ADMIN)
    agent = UserFactory(username="fuzz-agent", role=Role.AGENT)
    requester = UserFactory(username="fuzz-requester", role=Role.REQUESTER)
    tokens = {
        role: Token.objects.create(user=user).key
        for role, user in {"admin": admin, "agent": agent, "requester": requester}.items()
    }

    # SLA first, so that the ticket opened below gets clocks, and a breach once it is late.
    calendar = BusinessCalendar.objects.create(name="Office hours")
    spare_calendar = BusinessCalendar.objects.create(name="Spare calendar")
    policy = SLAPolicy.objects.create(name="Standard", order=10, calendar=calendar)
    SLATarget.objects.create(
        policy=policy, priority=Priority.NORMAL, metric_type=MetricType.FIRST_RESPONSE, minutes=1
    )
    spare_policy = SLAPolicy.objects.create(name="Spare", order=20, is_active=False)

    ticket = services.ticket_create(
        requester=requester, title="VPN down", description="Since 9:00.", actor=requester
    )
    services.ticket_watch(ticket=ticket, user=agent, actor=agent)
    comment = services.comment_create(
        ticket=ticket,
        author=requester,
        body="Screenshot attached.",
        attachments=[SimpleUploadedFile("screen.png", PNG, content_type="image/png")],
    )
    services.comment_create(ticket=ticket, author=agent, body="Looking.", is_internal=True)
    sla_services.sla_scan(now=timezone.now() + timedelta(days=1))
    breach = SLABreach.objects.get(metric__ticket=ticket)

    account = EmailAccount.objects.create(
        name="Help", address="help@desk.test", protocol=InboundProtocol.NONE
    )
    spare_account = EmailAccount.objects.create(
        name="Spare", address="spare@desk.test", protocol=InboundProtocol.NONE
    )
    message = email_services.message_ingest(account=account, raw=RAW_MAIL)

    form = _form(agent, slug="report-an-outage", login_required=False)
    spare_form = _form(agent, slug="spare-form", login_required=True)
    submission = form_services.submission_create(
        form=form, data={"summary": "Printer on fire"}, submitter=requester
    )

    category = kb_services.category_create(name="Accounts", actor=agent)
    spare_category = kb_services.category_create(name="Spare", actor=agent)
    tag = kb_services.tag_create(name="password", actor=agent)
    spare_tag = kb_services.tag_create(name="spare", actor=agent)
    article = _article(agent, "How to reset your password", publish=True)
    spare_article = _article(agent, "A draft nobody needs", publish=False)
    kb_attachment = kb_services.attachment_add(
        article=article,
        upload=SimpleUploadedFile("diagram.png", PNG, content_type="image/png"),
        actor=agent,
    )
    feedback = kb_services.feedback_create(
        article=article, author=requester, comment="Step 2 is missing."
    )
    search = kb_services.search_record(
        query="password", normalized_query="password", user=requester, results_count=1
    )

    more = _newer(admin=admin, agent=agent, ticket=ticket)

    return World(
        more=more,
        agent=agent,
        requester=requester,
        tokens=tokens,
        workflow=workflow,
        ticket=ticket,
        attachment_id=comment.attachments.get().pk,
        form=form,
        spare_form=spare_form,
        submission=submission,
        calendar=calendar,
        spare_calendar=spare_calendar,
        policy=policy,
        spare_policy=spare_policy,
        breach=breach,
        account=account,
        spare_account=spare_account,
        message=message,
        event=EventLog.objects.order_by("id").first(),
        article=article,
        spare_article=spare_article,
        article_attachment_id=kb_attachment.pk,
        category=category,
        spare_category=spare_category,
        tag=tag,
        spare_tag=spare_tag,
        feedback_id=feedback.pk,
        search_id=str(search.token),
    )


def _newer(*, admin: User, agent: User, ticket: Ticket) -> dict[str, Any]:
    """Custom fields (one holding a value on the ticket, so that ``custom_fields`` is
    checked with a value in it), an automation rule, a webhook endpoint with a delivery,
    and the agent's integration tokens; a spare of each for the DELETE operations."""
    from api_tokens.services import api_token_create
    from automation.api.serializers import RuleWriteSerializer
    from automation.services import rule_create
    from nixflow.services import ticket_field_create, ticket_fields_set
    from webhooks.services import endpoint_create, endpoint_send_test

    made: dict[str, Any] = {}
    for prefix, name, kind in (("", "asset_tag", "text"), ("spare_", "spare_count", "number")):
        made[f"{prefix}field"] = ticket_field_create(
            actor=admin, data={"name": name, "label": name.replace("_", " "), "type": kind}
        )
    ticket_fields_set(ticket=ticket, actor=agent, values={"asset_tag": "LAP-0042"})
    for prefix, name in (("", "Fuzz rule"), ("spare_", "Spare rule")):
        rule = RuleWriteSerializer(
            data={
                "name": name,
                "trigger": "ticket_created",
                "conditions": [{"field": "priority", "op": "is", "value": "HIGH"}],
                "actions": [{"type": "add_tags", "tags": ["vip"]}],
            }
        )
        rule.is_valid(raise_exception=True)
        made[f"{prefix}rule"] = rule_create(actor=admin, data=dict(rule.validated_data))
    for prefix, name in (("", "Fuzz hook"), ("spare_", "Spare hook")):
        made[f"{prefix}endpoint"], _ = endpoint_create(
            actor=admin,
            data={"name": name, "url": f"https://hooks.example.com/{prefix}fuzz"},
        )
    made["delivery"] = endpoint_send_test(endpoint=made["endpoint"], actor=admin)
    for prefix, name in (("", "Fuzz sync"), ("spare_", "Spare sync")):
        made[f"{prefix}token"] = api_token_create(
            actor=agent, name=name, scopes=["tickets:read"]
        ).token
    return made
