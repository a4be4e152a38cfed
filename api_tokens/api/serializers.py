from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api_tokens.models import ApiToken
from api_tokens.scopes import SCOPES


class ApiTokenSerializer(serializers.ModelSerializer[ApiToken]):
    user = serializers.IntegerField(source="user_id", read_only=True, help_text="The owner.")
    username = serializers.CharField(source="user.username", read_only=True)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=SCOPES), read_only=True)
    display = serializers.CharField(
        read_only=True, help_text="The token's recognisable start, nft_<prefix>_…"
    )
    active = serializers.SerializerMethodField(
        help_text="Whether the token authenticates now: neither revoked nor expired."
    )

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "user",
            "username",
            "name",
            "scopes",
            "prefix",
            "display",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "active",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.BooleanField())
    def get_active(self, token: ApiToken) -> bool:
        return not token.is_revoked and not token.is_expired(timezone.now())


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.SerializerMethodField(
        help_text="The token, shown this once: the desk keeps only its hash."
    )

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField())
    def get_token(self, token: ApiToken) -> str:
        return str(self.context["secret"])


class ApiTokenCreateSerializer(serializers.Serializer[dict[str, Any]]):
    name = serializers.CharField(max_length=100, help_text="What the token is for.")
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=SCOPES),
        min_length=1,
        max_length=len(SCOPES),
        help_text="area:read or area:write (write includes read) per area.",
    )
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="When it stops working (none: never)."
    )
