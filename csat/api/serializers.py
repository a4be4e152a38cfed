from __future__ import annotations

from rest_framework import serializers

from csat.models import Rating
from nixflow.models import Ticket


class RatingSerializer(serializers.ModelSerializer[Rating]):
    ticket = serializers.SerializerMethodField(help_text="The ticket's key, such as NF-12.")
    agent = serializers.IntegerField(
        source="agent_id",
        read_only=True,
        allow_null=True,
        help_text="The assignee when it was resolved.",
    )
    agent_username = serializers.CharField(source="agent.username", read_only=True, allow_null=True)
    team = serializers.IntegerField(
        source="team_id",
        read_only=True,
        allow_null=True,
        help_text="The ticket's team when it was resolved.",
    )
    team_name = serializers.CharField(source="team.name", read_only=True, allow_null=True)

    class Meta:
        model = Rating
        fields = [
            "id",
            "ticket",
            "rating",
            "comment",
            "agent",
            "agent_username",
            "team",
            "team_name",
            "created",
            "updated",
        ]
        read_only_fields = fields

    def get_ticket(self, rating: Rating) -> str:
        return Ticket.key_for(rating.ticket_id)
