"""Shapes of the notifications API: validate input, shape output; never write."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from notifications.models import Kind, Notification


class NotificationSerializer(serializers.ModelSerializer[Notification]):
    ticket_key = serializers.SerializerMethodField()
    ticket_title = serializers.CharField(source="ticket.title", read_only=True)
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

    def get_ticket_key(self, notification: Notification) -> str:
        return notification.ticket.key


class MarkedSerializer(serializers.Serializer[Any]):
    marked = serializers.IntegerField(help_text="How many notifications changed.")


class PreferenceSerializer(serializers.Serializer[Any]):
    """One kind's channels. In a PATCH a channel left out keeps its value."""

    kind = serializers.ChoiceField(choices=Kind.choices)
    label = serializers.CharField(read_only=True)
    in_admin = serializers.BooleanField(help_text="Listed in the admin, with the unread count.")
    email = serializers.BooleanField(help_text="Mailed, threaded per ticket.")


class PreferencesSerializer(serializers.Serializer[Any]):
    """Every kind's preferences. PUT names every kind with both channels; PATCH any of
    them, and any channel of each."""

    preferences = PreferenceSerializer(many=True)

    def validate_preferences(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if any("kind" not in row for row in rows):  # a PATCH leaves channels out, not kinds
            raise serializers.ValidationError("Each row names its kind.")
        kinds = [row["kind"] for row in rows]
        if len(set(kinds)) != len(kinds):
            raise serializers.ValidationError("Name each kind once.")
        if not self.partial and set(kinds) != set(Kind.values):
            missing = sorted(set(Kind.values) - set(kinds))
            raise serializers.ValidationError(
                f"PUT names every kind; missing: {', '.join(missing)}."
            )
        return rows

    def choices(self) -> dict[str, dict[str, bool]]:
        """The validated rows as ``notification_preferences_update`` takes them."""
        return {
            row["kind"]: {name: row[name] for name in ("in_admin", "email") if name in row}
            for row in self.validated_data["preferences"]
        }
