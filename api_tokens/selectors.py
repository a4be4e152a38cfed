"""Reads of the api_tokens app: whose tokens a user may see."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, QuerySet, Subquery
from rest_framework.authtoken.models import Token

from api_tokens.models import ApiToken, LegacyTokenUse
from nixflow.models import User
from nixflow.toolkit.auth import is_admin


def tokens_visible(*, user: User) -> QuerySet[ApiToken]:
    """A user's own tokens; every user's for admins (who may revoke any)."""
    tokens = ApiToken.objects.select_related("user")
    return tokens if is_admin(user) else tokens.filter(user=user)


def legacy_tokens() -> QuerySet[Token, dict[str, Any]]:
    """Every legacy DRF token's owner, when it was made, when it was last used (None:
    not since this desk started recording, or never) and whether the owner has a live
    integration token already: the list an admin works through before switching legacy
    tokens off. Never the key."""
    last_used = LegacyTokenUse.objects.filter(user_id=OuterRef("user_id")).values("last_used_at")
    replaced = ApiToken.objects.filter(user_id=OuterRef("user_id"), revoked_at__isnull=True)
    return (
        Token.objects.annotate(last_used_at=Subquery(last_used), replaced=Exists(replaced))
        .order_by("-last_used_at", "user__username")
        .values(
            "user_id",
            "user__username",
            "user__role",
            "created",
            "last_used_at",
            "replaced",
        )
    )
