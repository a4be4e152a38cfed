"""``/api/tokens/``: integration tokens through the API.

- ``GET`` lists the caller's own tokens (admins: everyone's, ``?user=`` for one user's),
  newest first; ``GET {id}/`` one of them. Someone else's token is a 404 to a non-admin.
- ``POST`` makes a token for the caller; the response holds the token string this once.
  Refused to a caller authenticated by an integration token (403): a leaked token must
  not be able to make fresh ones that outlive its revocation and expiry. Sessions and
  legacy DRF tokens (the way a script moves to integration tokens) may.
- ``DELETE {id}/`` or ``POST {id}/revoke/`` revokes it (the owner, or any admin): the
  row stays, as the record of what the token was; revoking twice is a 409. Scopes and
  names are not edited: a token with other scopes is a new token.

The area of these routes is ``admin`` (``api_tokens.areas``), for tokens that manage
tokens: listing needs ``admin:read``, revoking ``admin:write``.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from api_tokens import selectors, services
from api_tokens.api.serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
)
from api_tokens.models import ApiToken
from nixflow.api.filters import IdFilter
from nixflow.toolkit.auth import signed_in_user

REVOKED_TWICE = "The token was revoked already."


class ApiTokenFilter(django_filters.FilterSet):
    user = IdFilter(field_name="user_id", label="The owner (admins see everyone's tokens).")

    class Meta:
        model = ApiToken
        fields: list[str] = []


class ApiTokenViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[ApiToken],
):
    """Integration tokens: named, scoped API credentials of a user."""

    serializer_class = ApiTokenSerializer
    permission_classes = [IsAuthenticated]
    filter_backends = [DjangoFilterBackend]
    filterset_class = ApiTokenFilter
    conflicts = {"destroy": REVOKED_TWICE, "revoke": REVOKED_TWICE}
    lookup_value_regex = "[1-9][0-9]{0,17}"  # a bigint; anything else is a 404, never a 500

    def get_queryset(self) -> QuerySet[ApiToken]:
        if getattr(self, "swagger_fake_view", False):  # the schema, built without a user
            return ApiToken.objects.none()
        return selectors.tokens_visible(user=signed_in_user(self.request)).order_by(
            "-created_at", "-id"
        )

    @extend_schema(request=ApiTokenCreateSerializer, responses={201: ApiTokenCreatedSerializer})
    def create(self, request: Request) -> Response:
        if isinstance(request.auth, ApiToken):
            raise PermissionDenied(
                "An integration token cannot make tokens: sign in, or use your legacy token."
            )
        serializer = ApiTokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        created = services.api_token_create(
            actor=signed_in_user(request),
            name=data["name"],
            scopes=data["scopes"],
            expires_at=data.get("expires_at"),
        )
        shown = ApiTokenCreatedSerializer(created.token, context={"secret": created.secret})
        response = Response(shown.data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"  # the one response that holds the string
        return response

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.api_token_revoke(actor=signed_in_user(request), token=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=ApiTokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        token = services.api_token_revoke(actor=signed_in_user(request), token=self.get_object())
        return Response(ApiTokenSerializer(token).data)
