"""The authentication backends single sign-on puts in AUTHENTICATION_BACKENDS (sso.conf).

``OidcBackend`` is mozilla-django-oidc's backend for the authorization-code flow, with
the provider's endpoints read lazily (sso.discovery), the ID token's issuer and audience
checked (the library leaves ``aud`` unchecked), and the account found and updated by
``sso.services.identity_sign_in``.

``StaffPasswordGate`` refuses the passwords of agents and admins when
``OIDC_STAFF_PASSWORDS`` turns them off. API tokens are another way in (api_tokens),
untouched by it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import BaseBackend
from django.contrib.auth.hashers import check_password
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import HttpRequest
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from nixflow.models import User
from sso import services
from sso.discovery import sso_setting


def staff_passwords_refused(user: User) -> bool:
    """Whether ``user``'s local password may not sign them in."""
    from django.conf import settings

    if not getattr(settings, "OIDC_ENABLED", False):
        return False
    mode = getattr(settings, "OIDC_STAFF_PASSWORDS", "on")
    if mode == "off":
        return bool(user.is_staff or user.is_superuser)
    if mode == "superusers":
        return bool(user.is_staff and not user.is_superuser)
    return False


class StaffPasswordGate(BaseBackend):
    """Stands before Django's ModelBackend and refuses the password sign-in of an agent
    or admin while ``OIDC_STAFF_PASSWORDS`` switches staff passwords off; everyone else
    goes on to ModelBackend, which stays in AUTHENTICATION_BACKENDS (sessions made by it,
    the portal's sign-in links among them, name it).

    The account is found as ModelBackend finds it (the natural key). The refusal comes
    whatever the password, after a hash check as long as a real one, and reads as any
    failed sign-in: it says nothing about the password. PermissionDenied stops Django
    trying the backends after this one.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if username is None or password is None:
            return None
        try:
            user = User._default_manager.get_by_natural_key(username)
        except User.DoesNotExist:
            return None
        if staff_passwords_refused(user):
            check_password(password, user.password)
            raise PermissionDenied("Staff passwords are switched off; use single sign-on.")
        return None


class OidcBackend(OIDCAuthenticationBackend):
    get_settings = staticmethod(sso_setting)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The library reads every endpoint here; Django builds a backend for each
        # request's get_user, so the endpoints (perhaps a discovery request) are read
        # only when a sign-in needs them (the properties below).
        from django.contrib.auth import get_user_model

        self.UserModel = get_user_model()

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self) -> str:  # noqa: N802 (the library's name)
        return str(self.get_settings("OIDC_OP_TOKEN_ENDPOINT"))

    @property
    def OIDC_OP_USER_ENDPOINT(self) -> str:  # noqa: N802
        return str(self.get_settings("OIDC_OP_USER_ENDPOINT"))

    @property
    def OIDC_OP_JWKS_ENDPOINT(self) -> str:  # noqa: N802
        return str(self.get_settings("OIDC_OP_JWKS_ENDPOINT"))

    @property
    def OIDC_RP_CLIENT_ID(self) -> str:  # noqa: N802
        return str(self.get_settings("OIDC_RP_CLIENT_ID"))

    @property
    def OIDC_RP_CLIENT_SECRET(self) -> str:  # noqa: N802
        return str(self.get_settings("OIDC_RP_CLIENT_SECRET"))

    @property
    def OIDC_RP_SIGN_ALGO(self) -> str:  # noqa: N802
        return str(self.get_settings("OIDC_RP_SIGN_ALGO", "RS256"))

    @property
    def OIDC_RP_IDP_SIGN_KEY(self) -> str | None:  # noqa: N802
        key = self.get_settings("OIDC_RP_IDP_SIGN_KEY", None)
        return str(key) if key else None

    def get_user(self, user_id: Any) -> User | None:
        # The library's finds whoever has the id; like ModelBackend's, a session ends
        # with its account, or someone deactivated here would stay signed in.
        user = super().get_user(user_id)
        return user if isinstance(user, User) and user.is_active else None

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        payload: dict[str, Any] = super().verify_token(token, **kwargs)
        # OpenID Connect Core 3.1.3.7: the ID token is for this client, from this issuer.
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("The ID token is for another client.")
        issuer = self.get_settings("OIDC_OP_ISSUER", "")
        if issuer and payload.get("iss") != issuer:
            raise SuspiciousOperation("The ID token comes from another issuer.")
        return payload

    def get_or_create_user(
        self, access_token: str, id_token: str, payload: dict[str, Any]
    ) -> User | None:
        claims = self.get_userinfo(access_token, id_token, payload)
        # OpenID Connect Core 5.3.2: userinfo's sub must be the ID token's.
        if claims.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("The userinfo response is about someone else.")
        issuer = self.get_settings("OIDC_OP_ISSUER", "") or payload.get("iss", "")
        try:
            return services.identity_sign_in(issuer=issuer, claims=claims)
        except services.SignInRefusedError as refusal:
            # Read by the callback view, which shows the reason.
            if self.request is not None:
                self.request.sso_refusal = refusal.message
            return None
