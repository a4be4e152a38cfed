from rest_framework import serializers

from eventlog.models import EventLog


class EventSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()
    subject = serializers.SerializerMethodField()

    class Meta:
        model = EventLog
        fields = [
            "id",
            "type",
            "occurred_at",
            "recorded_at",
            "actor",
            "subject",
            "ticket_key",
            "payload",
            "correlation_id",
        ]
        read_only_fields = fields

    def get_actor(self, event: EventLog) -> dict:
        return {"id": event.actor_id, "label": event.actor_label}

    def get_subject(self, event: EventLog) -> dict:
        return {"app": event.subject_app, "model": event.subject_model, "id": event.subject_id}
