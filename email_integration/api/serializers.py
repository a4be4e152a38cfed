from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from email_integration.models import EmailAccount, EmailAttachment, EmailMessage

# A custom provider's endpoints: empty, or http(s):// (Django's URL check, which also
# takes ftp://, decides the rest: a host it accepts, no spaces). JSON Schema's "uri"
# format would promise any RFC 3986 URI ("a:b"), which the field refuses.
OAUTH_URL_SCHEMA = {
    "type": "string",
    "maxLength": 500,
    "pattern": r"^\s*$|^\s*[Hh][Tt][Tt][Pp][Ss]?://",
}


@extend_schema_field(OAUTH_URL_SCHEMA)
class OAuthUrlField(serializers.URLField):
    pass


class EmailAccountSerializer(serializers.ModelSerializer):
    """Validates and shapes mail accounts; the view writes them through
    ``email_integration.accounts``. The password is write-only: it is never sent back
    (``has_password`` says whether one is stored), and an empty one keeps the stored."""

    password = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        style={"input_type": "password"},
    )
    has_password = serializers.SerializerMethodField()
    oauth_client_secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        style={"input_type": "password"},
    )
    has_oauth_client_secret = serializers.SerializerMethodField()
    oauth_authorize_url = OAuthUrlField(
        label="OAuth2 authorization URL",
        max_length=500,
        required=False,
        allow_blank=True,
        help_text="Custom provider only.",
    )
    oauth_token_url = OAuthUrlField(
        label="OAuth2 token URL",
        max_length=500,
        required=False,
        allow_blank=True,
        help_text="Custom provider only.",
    )
    oauth_authorized = serializers.SerializerMethodField()

    class Meta:
        model = EmailAccount
        fields = [
            "id",
            "name",
            "address",
            "protocol",
            "host",
            "port",
            "use_tls",
            "username",
            "password",
            "has_password",
            "folder",
            "workflow",
            "default_priority",
            "is_active",
            "poll_interval_seconds",
            "trusted_authserv_id",
            "auth_method",
            "oauth_provider",
            "oauth_tenant",
            "oauth_client_id",
            "oauth_client_secret",
            "has_oauth_client_secret",
            "oauth_authorize_url",
            "oauth_token_url",
            "oauth_scope",
            "oauth_authorized",
            "oauth_authorized_at",
            "oauth_expires_at",
            "oauth_error",
            "smtp_host",
            "smtp_port",
            "smtp_security",
            "last_polled_at",
            "last_error",
        ]
        # The OAuth2 grant is made in the admin's consent flow (a browser round trip
        # through the provider), never written through the API.
        read_only_fields = [
            "last_polled_at",
            "last_error",
            "oauth_authorized_at",
            "oauth_expires_at",
            "oauth_error",
        ]

    def get_has_password(self, account: EmailAccount) -> bool:
        return bool(account.password)

    def get_has_oauth_client_secret(self, account: EmailAccount) -> bool:
        return bool(account.oauth_client_secret)

    def get_oauth_authorized(self, account: EmailAccount) -> bool:
        return bool(account.oauth_refresh_token) and not account.oauth_error


# Read-only Meta alike the core's brief serializers: the columns of another model.
class EmailAttachmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = EmailAttachment
        fields = ["id", "filename", "content_type", "size", "content_id", "refused_reason"]
        read_only_fields = fields


class EmailMessageSerializer(serializers.ModelSerializer):
    ticket = serializers.SerializerMethodField()
    attachments = EmailAttachmentSerializer(many=True, read_only=True)

    class Meta:
        # What the API shows of a message; services.PROCESSED_FIELDS (alike) is what intake writes.
        model = EmailMessage
        fields = [
            "id",
            "account",
            "message_type",
            "status",
            "message_id",
            "in_reply_to",
            "references",
            "from_address",
            "from_name",
            "to_addresses",
            "cc_addresses",
            "subject",
            "reply_text",
            "error_reason",
            "ticket",
            "received_at",
            "processed_at",
            "sent_at",
            "attachments",
            "sender_auth",
            "authentication",
            "reviewed_by",
            "reviewed_at",
        ]
        read_only_fields = fields

    # A read-only Meta and get_ticket, alike knowledge's feedback serializer: other model.
    def get_ticket(self, message: EmailMessage) -> str | None:
        return message.ticket.key if message.ticket is not None else None


class InboundAcceptedSerializer(serializers.Serializer):
    """The answer to a posted message: stored, to be processed by a worker."""

    id = serializers.IntegerField(help_text="The stored message: /api/email/messages/{id}/.")
    status = serializers.CharField(help_text="'received' until a worker processed it.")
    created = serializers.BooleanField(help_text="False when this message was stored before.")
