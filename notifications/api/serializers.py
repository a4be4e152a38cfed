"""Shapes of the notifications API: validate input, shape output; never write."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from notifications.models import Kind, Notification


class NotificationSerializer(serializers.ModelSerializer[Notification]):
    # Null for a notice about no ticket (kind webhook_disabled, told to admins).
    ticket_key = serializers.SerializerMethodField()
    ticket_title = serializers.SerializerMethodField()
    is_read = serializers.BooleanField(read_only=True)
    reasons = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Notification
        fields = [
            "id",
            "kind",
            "reasons",
            "text",
            "ticket",
            "ticket_key",
            "ticket_title",
            "comment",
            "email",
            "created",
            "read_at",
            "is_read",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_ticket_key(self, notification: Notification) -> str | None:
        return notification.ticket.key if notification.ticket is not None else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_ticket_title(self, notification: Notification) -> str | None:
        return notification.ticket.title if notification.ticket is not None else None


class MarkedSerializer(serializers.Serializer[Any]):
    marked = serializers.IntegerField(help_text="How many notifications changed.")


class JSONBooleanField(serializers.BooleanField):
    """``true`` or ``false`` only: DRF also reads ``0``, ``"yes"`` and the like, which the
    schema (a JSON boolean) does not allow. The preferences take JSON bodies only."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class PreferenceSerializer(serializers.Serializer[Any]):
    """One kind's channels, as set by a PUT (both) and shown."""

    kind = serializers.ChoiceField(choices=Kind.choices)
    label = serializers.CharField(read_only=True)  # type: ignore[assignment]
    in_admin = JSONBooleanField(help_text="Listed in the admin, with the unread count.")
    email = JSONBooleanField(help_text="Mailed, threaded per ticket.")


class PreferencePatchSerializer(PreferenceSerializer):
    """One kind's channels in a PATCH: a channel left out keeps its value."""

    in_admin = JSONBooleanField(
        required=False, help_text="Listed in the admin, with the unread count."
    )
    email = JSONBooleanField(required=False, help_text="Mailed, threaded per ticket.")


class PreferencesSerializer(serializers.Serializer[Any]):
    """Every kind's preferences. A PUT sets them all: kinds it leaves out go back to
    their defaults. A kind named twice takes its last row."""

    preferences = PreferenceSerializer(many=True)

    def choices(self) -> dict[str, dict[str, bool]]:
        """The validated rows as ``notification_preferences_update`` takes them."""
        return {
            row["kind"]: {name: row[name] for name in ("in_admin", "email") if name in row}
            for row in self.validated_data.get("preferences", [])
        }


class PreferencesPatchSerializer(PreferencesSerializer):
    """Some kinds' preferences, and any channel of each; the rest stay."""

    # Left out: nothing changes.
    preferences = PreferencePatchSerializer(many=True, required=False)
