"""Authentication of the API by integration tokens, and DRF's older tokens beside them.

``ScopedTokenAuthentication`` takes ``Authorization: Bearer nft_…`` (or ``Token nft_…``,
for clients written for DRF's scheme), finds the token by the SHA-256 of the string,
refuses a revoked or expired one with 401, and then checks the token's scopes against
the area of the view the request is for (``api_tokens.areas``): DRF builds the request
with the view in ``parser_context``, and authentication runs before any view code and
whatever ``permission_classes`` the view names, so no view can forget the check. The
user is the token's owner, and the view's own permissions still judge the role: a
token never gives more than its owner has.

``LegacyTokenAuthentication`` is DRF's ``TokenAuthentication`` (the tokens of
``POST /api/auth/token/``, full rights of their owner) with three additions: it leaves
``Token nft_…`` to the integration tokens, it refuses every legacy token when the
setting ``API_LEGACY_TOKENS`` is False, and it records each user's last use
(``LegacyTokenUse``), which DRF does not, so that an admin can see who still uses one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone
from rest_framework.authentication import (
    BaseAuthentication,
    TokenAuthentication,
    get_authorization_header,
)
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework.request import Request

from api_tokens import keys
from api_tokens.areas import ANY, PUBLIC, UnclassifiedError, required_scope
from api_tokens.models import ApiToken, LegacyTokenUse
from api_tokens.scopes import scopes_allow
from eventlog import context

# last_used_at is written at most this often per token: a busy integration makes
# hundreds of requests a minute, and one UPDATE a minute tells an admin as much.
LAST_USED_PRECISION = timedelta(minutes=1)


def _credential(request: Request, keywords: tuple[bytes, ...]) -> str | None:
    """The credential after one of ``keywords`` (lower case) in Authorization, or None."""
    parts = get_authorization_header(request).split()
    if not parts or parts[0].lower() not in keywords:
        return None
    if len(parts) != 2:
        raise AuthenticationFailed("Invalid token header: give the scheme, one space, the token.")
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError:
        raise AuthenticationFailed("Invalid token header: not an ASCII token.") from None


class ScopedTokenAuthentication(BaseAuthentication):
    """``Bearer nft_…`` (or ``Token nft_…``): the token's owner, within its scopes."""

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        raw = _credential(request, (b"bearer", b"token"))
        if raw is None:
            return None
        if not keys.is_integration_token(raw):
            if get_authorization_header(request).split()[0].lower() == b"bearer":
                raise AuthenticationFailed("Invalid token.")
            return None  # "Token <40 hex>": a legacy token, LegacyTokenAuthentication's
        token = (
            ApiToken.objects.select_related("user").filter(token_hash=keys.token_hash(raw)).first()
        )
        if token is None:
            raise AuthenticationFailed("Invalid token.")
        if token.revoked_at is not None:
            raise AuthenticationFailed("This token was revoked.")
        now = timezone.now()
        if token.is_expired(now):
            raise AuthenticationFailed("This token has expired.")
        if not token.user.is_active:
            raise AuthenticationFailed("User inactive or deleted.")
        self._check_scope(request, token)
        self._touch(token, now)
        # The request's changes name the token in their events and history rows, so an
        # audit tells a person's own changes from an integration's made in their name.
        context.via_for_request(
            {"kind": "token", "id": token.pk, "name": token.name, "prefix": token.prefix}
        )
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"

    @staticmethod
    def _check_scope(request: Request, token: ApiToken) -> None:
        view = request.parser_context.get("view")
        if view is None:  # not a DRF view: nothing to check against, so nothing allowed
            raise PermissionDenied("This endpoint does not accept integration tokens.")
        try:
            needed = required_scope(type(view), request.method or "GET")
        except UnclassifiedError:
            raise PermissionDenied("This endpoint does not accept integration tokens.") from None
        if needed in (PUBLIC, ANY) or scopes_allow(token.scopes, needed):
            return
        raise PermissionDenied(f"This token's scopes do not include {needed}.")

    @staticmethod
    def _touch(token: ApiToken, now: Any) -> None:
        if token.last_used_at is not None and now - token.last_used_at < LAST_USED_PRECISION:
            return
        # Conditional: of requests racing past the check above, one writes.
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_PRECISION)
        ).update(last_used_at=now)
        token.last_used_at = now


class LegacyTokenAuthentication(TokenAuthentication):
    """DRF's ``Token <key>``, unless switched off; its last use recorded."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        raw = _credential(request, (self.keyword.lower().encode(),))
        if raw is None or keys.is_integration_token(raw):
            return None
        if not getattr(settings, "API_LEGACY_TOKENS", True):
            raise AuthenticationFailed(
                "Legacy API tokens are switched off on this desk: use an integration "
                "token (Authorization: Bearer nft_…)."
            )
        result = self.authenticate_credentials(raw)
        _record_legacy_use(result[0].pk)
        return result


def _record_legacy_use(user_id: int) -> None:
    # The cache keeps this to one upsert per user a minute without reading the row.
    if not cache.add(f"api_tokens:legacy:{user_id}", 1, LAST_USED_PRECISION.total_seconds()):
        return
    LegacyTokenUse.objects.update_or_create(
        user_id=user_id, defaults={"last_used_at": timezone.now()}
    )
