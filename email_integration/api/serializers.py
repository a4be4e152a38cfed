from __future__ import annotations

from rest_framework import serializers

from email_integration.models import EmailAccount, EmailAttachment, EmailMessage


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
            "last_polled_at",
            "last_error",
        ]
        read_only_fields = ["last_polled_at", "last_error"]

    def get_has_password(self, account: EmailAccount) -> bool:
        return bool(account.password)


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
