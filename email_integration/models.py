"""Mail accounts, the messages that came in or went out, their threads and attachments.

Store first, then act: every inbound message is saved raw (``EmailMessage.raw``) before
anything else happens to it, and before the mail server is told it was taken. Saving
is idempotent per account on (Message-ID, SHA-256 of the raw bytes), so fetching,
posting or ingesting the same message again creates nothing; the same Message-ID with
different bytes is kept too, and flagged. Processing (threading, tickets, comments) is
a separate, repeatable step whose failures are kept with a reason.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext

from email_integration.crypto import EncryptedTextField
from nixflow.models import Comment, Priority, Ticket, Workflow


# Choices, fields and Meta blocks below are alike in shape to other apps' models and to
# one another (the duplicates report lists them): declarations of different rows and
# values, each tied to its own migrations, so they stay written out.
class InboundProtocol(models.TextChoices):
    IMAP = "IMAP", "IMAP"
    POP3 = "POP3", "POP3"
    NONE = "NONE", "None (posted or ingested mail only)"


class AuthMethod(models.TextChoices):
    PASSWORD = "password", "Password"
    OAUTH2 = "oauth2", "OAuth2 (XOAUTH2 / OAUTHBEARER)"


class OAuthProvider(models.TextChoices):
    """Presets of ``email_integration.oauth.PROVIDERS``; custom: the account's own URLs."""

    MICROSOFT = "microsoft", "Microsoft 365"
    GOOGLE = "google", "Google"
    CUSTOM = "custom", "Custom endpoints"


class SMTPSecurity(models.TextChoices):
    STARTTLS = "starttls", "STARTTLS"
    TLS = "tls", "Implicit TLS (SMTPS)"
    NONE = "none", "None (loopback or trusted network only)"


class EmailAccount(models.Model):
    """A mailbox NixFlow reads (and sends as). The password is write-only everywhere and
    encrypted at rest (``email_integration.crypto``). Written only through
    ``email_integration.accounts`` (admin and API alike), which records its events."""

    name = models.CharField(max_length=100, unique=True)
    address = models.EmailField(unique=True, help_text="The desk's address, e.g. help@example.com.")
    protocol = models.CharField(
        max_length=4, choices=InboundProtocol.choices, default=InboundProtocol.IMAP
    )
    host = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    use_tls = models.BooleanField(default=True, help_text="Implicit TLS (IMAPS, POP3S).")
    username = models.CharField(max_length=255, blank=True)
    # Never rendered back by the admin or the API (write-only fields there); stored as a
    # Fernet token, decrypted when the row is loaded.
    password = EncryptedTextField(blank=True)
    folder = models.CharField(max_length=255, default="INBOX")
    workflow = models.ForeignKey(
        Workflow,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        help_text="Workflow of tickets opened by mail (empty: the default workflow).",
    )
    default_priority = models.CharField(
        max_length=8, choices=Priority.choices, default=Priority.NORMAL
    )
    is_active = models.BooleanField(default=True)
    poll_interval_seconds = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(10)]
    )
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # IMAP: messages are fetched by UID above last_uid, as long as UIDVALIDITY holds.
    imap_uidvalidity = models.BigIntegerField(null=True, blank=True)
    imap_last_uid = models.BigIntegerField(default=0)
    # Sender authentication (email_integration/authentication.py): the authserv-id our
    # own MTA writes into Authentication-Results. Headers naming any other id are
    # ignored, since anyone can write them before the mail reaches us.
    trusted_authserv_id = models.CharField(
        max_length=255,
        blank=True,
        db_default="",
        help_text=(
            "The authserv-id your receiving mail server writes into Authentication-Results "
            "(e.g. mx.example.com). Empty: those headers are never trusted, only DKIM "
            "signatures verified here and reply tokens."
        ),
    )

    # OAuth2 (email_integration/oauth.py): the refresh token an admin obtained once
    # through the provider's consent flow; access tokens are got from it as needed.
    auth_method = models.CharField(
        "sign-in method",
        max_length=16,
        choices=AuthMethod.choices,
        default=AuthMethod.PASSWORD,
        db_default=AuthMethod.PASSWORD,
    )
    oauth_provider = models.CharField(
        "OAuth2 provider",
        max_length=16,
        choices=OAuthProvider.choices,
        blank=True,
        default="",
        db_default="",
    )
    oauth_tenant = models.CharField(
        "OAuth2 tenant",
        max_length=255,
        blank=True,
        default="",
        db_default="",
        help_text="Microsoft 365: the directory (tenant) id or domain; empty: organizations.",
    )
    oauth_client_id = models.CharField(
        "OAuth2 client ID",
        max_length=255,
        blank=True,
        default="",
        db_default="",
        help_text=(
            "Empty: the provider's from the settings (EMAIL_OAUTH_MICROSOFT_CLIENT_ID, "
            "EMAIL_OAUTH_GOOGLE_CLIENT_ID)."
        ),
    )
    oauth_client_secret = EncryptedTextField(
        "OAuth2 client secret", blank=True, default="", db_default=""
    )
    oauth_authorize_url = models.URLField(
        "OAuth2 authorization URL",
        max_length=500,
        blank=True,
        default="",
        db_default="",
        help_text="Custom provider only.",
    )
    oauth_token_url = models.URLField(
        "OAuth2 token URL",
        max_length=500,
        blank=True,
        default="",
        db_default="",
        help_text="Custom provider only.",
    )
    oauth_scope = models.CharField(
        "OAuth2 scopes",
        max_length=500,
        blank=True,
        default="",
        db_default="",
        help_text="Space-separated scopes; empty: the provider's mail scopes.",
    )
    # Kept by the system (the consent flow and token refresh), never by a form.
    oauth_refresh_token = EncryptedTextField(
        "OAuth2 refresh token", blank=True, default="", db_default=""
    )
    oauth_access_token = EncryptedTextField(
        "OAuth2 access token", blank=True, default="", db_default=""
    )
    oauth_expires_at = models.DateTimeField("access token expires at", null=True, blank=True)
    oauth_authorized_at = models.DateTimeField("OAuth2 authorized at", null=True, blank=True)
    oauth_error = models.TextField(
        "OAuth2 refusal",
        blank=True,
        default="",
        db_default="",
        help_text="Why the provider refused the last refresh.",
    )
    # Sending through the account's own SMTP server (empty host: the desk's EMAIL_* mail
    # backend, as before). Authenticates as the account: its password, or XOAUTH2.
    smtp_host = models.CharField("SMTP host", max_length=255, blank=True, default="", db_default="")
    smtp_port = models.PositiveIntegerField(
        "SMTP port",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(65535)],
    )
    smtp_security = models.CharField(
        "SMTP security",
        max_length=16,
        choices=SMTPSecurity.choices,
        default=SMTPSecurity.STARTTLS,
        db_default=SMTPSecurity.STARTTLS,
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>"

    def clean(self) -> None:
        if self.auth_method != AuthMethod.OAUTH2:
            return
        if not self.oauth_provider:
            raise ValidationError(
                {"oauth_provider": gettext("An OAuth2 account needs a provider.")}
            )
        if self.oauth_provider == OAuthProvider.CUSTOM:
            missing = {
                name: gettext("A custom provider needs this URL.")
                for name in ("oauth_authorize_url", "oauth_token_url")
                if not getattr(self, name)
            }
            if missing:
                raise ValidationError(missing)


class EmailThread(models.Model):
    """The mail conversation of one ticket through one account."""

    account = models.ForeignKey(EmailAccount, on_delete=models.PROTECT, related_name="threads")
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="email_threads")
    normalized_subject = models.CharField(max_length=998, blank=True)
    root_message_id = models.CharField(max_length=998, blank=True)
    participants = ArrayField(models.EmailField(), default=list, blank=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(fields=["account", "ticket"], name="email_thread_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.ticket.key}: {self.normalized_subject}"


class EmailMessageType(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"
    AUTO_REPLY = "auto_reply", "Auto-reply"
    BOUNCE = "bounce", "Bounce"


class EmailMessageStatus(models.TextChoices):
    RECEIVED = "received", "Received"  # stored, not processed yet
    PROCESSED = "processed", "Processed"  # became a ticket or a comment
    IGNORED = "ignored", "Ignored"  # auto-reply, bounce, list mail, rate limit, duplicate
    FAILED = "failed", "Failed"  # processing raised; see error_reason, can be reprocessed
    QUEUED = "queued", "Queued"  # outbound, waiting for the sender task (next_attempt_at)
    SENDING = "sending", "Sending"  # outbound, claimed by a sender task until next_attempt_at
    SENT = "sent", "Sent"
    # FAILED for outbound: given up after EMAIL_SEND_MAX_ATTEMPTS; staff can resend it.
    # Inbound mail that would act as staff while its sender is not authenticated: held,
    # with the reason in error_reason, until staff release it (then processed as the
    # verified sender) or reject it.
    SUSPENDED = "suspended", "Suspended"
    REJECTED = "rejected", "Rejected"  # a suspended message staff refused; never processed


class SenderAuth(models.TextChoices):
    """How the sender of an inbound message was authenticated (authentication.py)."""

    NONE = "none", "Not authenticated"
    DKIM = "dkim", "DKIM signature aligned with From"
    ARC = "arc", "ARC chain of a trusted sealer"
    AUTHENTICATION_RESULTS = "authentication_results", "Our MTA's Authentication-Results"
    REPLY_TOKEN = "reply_token", "Reply token of our notification"
    RELEASED = "released", "Released by staff"


class EmailMessage(models.Model):
    account = models.ForeignKey(EmailAccount, on_delete=models.PROTECT, related_name="messages")
    thread = models.ForeignKey(
        EmailThread, on_delete=models.SET_NULL, null=True, blank=True, related_name="messages"
    )
    message_type = models.CharField(
        max_length=16, choices=EmailMessageType.choices, default=EmailMessageType.INBOUND
    )
    status = models.CharField(
        max_length=16, choices=EmailMessageStatus.choices, default=EmailMessageStatus.RECEIVED
    )
    message_id = models.CharField(max_length=998, blank=True)
    in_reply_to = models.CharField(max_length=998, blank=True)
    references = ArrayField(models.CharField(max_length=998), default=list, blank=True)
    from_address = models.CharField(max_length=320, blank=True)
    from_name = models.CharField(max_length=255, blank=True)
    to_addresses = ArrayField(models.CharField(max_length=320), default=list, blank=True)
    cc_addresses = ArrayField(models.CharField(max_length=320), default=list, blank=True)
    subject = models.TextField(blank=True)
    text_body = models.TextField(blank=True, help_text="The full text, quotes included.")
    reply_text = models.TextField(blank=True, help_text="The new text, without quotes.")
    html_body = models.TextField(blank=True, help_text="Sanitized with nh3.")
    raw = models.BinaryField(help_text="The message exactly as received or sent.")
    raw_sha256 = models.CharField(max_length=64)
    error_reason = models.TextField(blank=True)
    duplicate_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="An earlier message with the same Message-ID but other content.",
    )
    bounce_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="bounces",
        help_text="The message this delivery report is about.",
    )
    ticket = models.ForeignKey(
        Ticket, on_delete=models.SET_NULL, null=True, blank=True, related_name="email_messages"
    )
    comment = models.ForeignKey(
        Comment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Outbound: when a queued message is due (its next retry), or, while it is being sent,
    # when the sender's claim lapses. The sweeper re-queues what is overdue.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Inbound: how the sender was authenticated (email_integration/authentication.py).
    sender_auth = models.CharField(
        max_length=24,
        choices=SenderAuth.choices,
        default=SenderAuth.NONE,
        db_default=SenderAuth.NONE,
        blank=True,
    )
    authentication = models.TextField(
        blank=True, db_default="", help_text="What sender authentication found, in words."
    )
    # Who released or rejected a suspended message, and when.
    # Indexed by email_message_reviewed_by (Meta), which is built concurrently.
    reviewed_by = models.ForeignKey(
        "nixflow.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            # Store-first idempotency (see the module docstring): a message without a
            # Message-ID is keyed on its bytes alone ("" + sha256).
            models.UniqueConstraint(
                fields=["account", "message_id", "raw_sha256"], name="email_message_once"
            ),
        ]
        indexes = [
            models.Index(fields=["message_id"], name="email_message_id"),
            models.Index(fields=["status", "received_at"], name="email_message_status"),
            models.Index(fields=["from_address", "received_at"], name="email_message_sender"),
            models.Index(fields=["ticket", "received_at"], name="email_message_ticket"),
            models.Index(
                fields=["next_attempt_at"],
                name="email_outbound_due",
                condition=models.Q(status__in=["queued", "sending"]),
            ),
            models.Index(fields=["reviewed_by"], name="email_message_reviewed_by"),
            # The admin's list: newest first, a sender's address in any case, words of
            # the subject (icontains is UPPER(col) LIKE, which the trigram index serves).
            models.Index(fields=["-received_at", "-id"], name="email_message_received"),
            models.Index(Upper("from_address"), name="email_message_sender_upper"),
            GinIndex(
                OpClass(Upper("subject"), name="gin_trgm_ops"), name="email_message_subject_trgm"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_message_type_display()} {self.message_id or self.pk}: {self.subject}"


def email_attachment_path(instance: EmailAttachment, filename: str) -> str:
    return f"email/{timezone.now():%Y/%m}/{instance.sha256[:2]}/{instance.sha256}/{filename}"


class EmailAttachment(models.Model):
    """A part of a message stored as a file; refused parts keep their record and reason."""

    message = models.ForeignKey(EmailMessage, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    content_id = models.CharField(max_length=998, blank=True, help_text="For inline images.")
    sha256 = models.CharField(max_length=64)
    file = models.FileField(upload_to=email_attachment_path, max_length=400, blank=True)
    refused_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.filename


class SenderCount(models.Model):
    """Messages per sender per hour, for the runaway-correspondent limit (an upsert).

    Counted apart for authenticated and unauthenticated mail of one address: a flood
    forging a customer's From fills only the unauthenticated count, so it cannot use
    up the limit of that customer's signed mail or replies to our notifications.
    """

    address = models.CharField(max_length=320)
    hour = models.DateTimeField()
    verified = models.BooleanField(default=False, db_default=False)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["address", "hour", "verified"], name="email_sender_hour_verified"
            ),
        ]

    def __str__(self) -> str:
        kind = "authenticated" if self.verified else "unauthenticated"
        return f"{self.address} {self.hour:%Y-%m-%d %H} ({kind}): {self.count}"
