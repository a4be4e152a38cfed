from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from eventlog.models import EventLog

# The schema of an event's ``actor``: who acted, as the log keeps it. (Inline: a
# Serializer class cannot have a field named ``label``, which every Field has.)
EVENT_ACTOR = inline_serializer(
    name="EventActor",
    fields={
        "id": serializers.IntegerField(
            allow_null=True, help_text="The user's id; null: the system."
        ),
        "label": serializers.CharField(
            help_text='A username, "system", or person:<id> for a requester.'
        ),
        "name": serializers.CharField(
            help_text="For people to read: the label, or a person's current username "
            '("[erased]" once the account is gone).'
        ),
    },
)


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

    @extend_schema_field(EVENT_ACTOR)
    def get_actor(self, event: EventLog) -> dict:
        # A requester's label is person:<id>: "name" is their current username (the view
        # joins the actor), "[erased]" once their account is gone.
        return {"id": event.actor_id, "label": event.actor_label, "name": event.actor_name}

    def get_subject(self, event: EventLog) -> dict:
        return {"app": event.subject_app, "model": event.subject_model, "id": event.subject_id}
