"""OAuth2 mailboxes: IMAP, POP3 and SMTP logins with a bearer token (XOAUTH2 or
OAUTHBEARER, RFC 7628) instead of a password.

An admin authorizes an account once, through the provider's consent page
(``consent_start`` → the provider → ``consent_finish``: authorization code with PKCE,
RFC 7636, and a ``state`` kept in the admin's session). That gives a refresh token,
stored encrypted on the account like its password; access tokens are got from it when
needed (``access_token``) and kept encrypted too, until ``EMAIL_OAUTH_REFRESH_MARGIN_SECONDS``
before they expire.

Refreshing locks the account's row (``select_for_update``) and calls the token endpoint
while holding the lock: two workers polling and sending at once do not both refresh; the
second waits and takes the first one's token. Providers that rotate refresh tokens
(Microsoft does) would otherwise revoke the one the other worker is still using.

A refusal of the grant (``invalid_grant``: the user revoked it, the password changed,
the token lapsed; or ``invalid_client``: a wrong secret) is kept on the account
(``oauth_error``, ``last_error``, an ``email.account.oauth_failed`` event) and no token
endpoint is called again for it until an admin authorizes it anew or changes its OAuth2
settings: no storm of refused refreshes every poll; nor are such accounts polled at all
(``polling_paused``) until then. Network failures and 5xx answers are
only raised: the next poll or send retry tries again.

Login: the mechanism the server offers (XOAUTH2 first, which Microsoft and Google both
speak, else OAUTHBEARER). A server that refuses a token we think fresh (revoked early,
clocks apart) gets one forced refresh and one more try.
"""

from __future__ import annotations

import base64
import hashlib
import imaplib
import json
import poplib
import secrets
import smtplib
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail.backends.smtp import EmailBackend
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from email_integration import events
from email_integration.models import AuthMethod, EmailAccount, OAuthProvider, SMTPSecurity
from nixflow.models import User
from nixflow.toolkit.auth import require_admin

MICROSOFT_LOGIN = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0"


@dataclass(frozen=True)
class Provider:
    authorize_url: str
    token_url: str
    scope: str
    # Extra parameters of the authorization request.
    authorize_params: Mapping[str, str] = field(default_factory=dict)


PROVIDERS: dict[str, Provider] = {
    OAuthProvider.MICROSOFT: Provider(
        authorize_url=MICROSOFT_LOGIN + "/authorize",
        token_url=MICROSOFT_LOGIN + "/token",
        # offline_access: without it Microsoft issues no refresh token.
        scope=" ".join(
            (
                "https://outlook.office.com/IMAP.AccessAsUser.All",
                "https://outlook.office.com/POP.AccessAsUser.All",
                "https://outlook.office.com/SMTP.Send",
                "offline_access",
            )
        ),
    ),
    OAuthProvider.GOOGLE: Provider(
        authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
        token_url="https://oauth2.googleapis.com/token",  # noqa: S106 -- a URL, no secret
        scope="https://mail.google.com/",
        # Google issues a refresh token only for offline access, and only on a consent
        # screen (not on a silent re-authorization): ask for both.
        authorize_params={"access_type": "offline", "prompt": "consent"},
    ),
}

# The provider's error codes that say the grant or the client is refused for good:
# trying again changes nothing until an admin acts (RFC 6749, section 5.2).
REFUSALS = frozenset(
    {"invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope", "invalid_request"}
)
# How long an admin has between "Authorize" and the provider's redirect back.
CONSENT_SECONDS = 15 * 60
SESSION_KEY = "email_oauth_consent"


class OAuthError(Exception):
    """No access token could be had (a network failure, a 5xx): may pass. ``account_id``:
    the account a failed consent flow was about, once known."""

    account_id: int | None = None


class OAuthRefused(OAuthError):  # noqa: N818 -- named for what the admin sees
    """The provider refused the grant or the client: an admin must re-authorize."""


@dataclass(frozen=True)
class Endpoints:
    authorize_url: str
    token_url: str
    scope: str
    client_id: str
    client_secret: str
    authorize_params: Mapping[str, str]


def endpoints(account: EmailAccount) -> Endpoints:
    """The account's provider: its preset, with the account's own URLs, scope and client
    taking precedence; the client from ``EMAIL_OAUTH_<PROVIDER>_CLIENT_ID`` / ``_SECRET``
    when the account names none."""
    preset = PROVIDERS.get(account.oauth_provider)
    tenant = account.oauth_tenant or "organizations"
    authorize = account.oauth_authorize_url or (preset.authorize_url if preset else "")
    token = account.oauth_token_url or (preset.token_url if preset else "")
    prefix = f"EMAIL_OAUTH_{account.oauth_provider.upper()}"
    client_id = account.oauth_client_id or getattr(settings, f"{prefix}_CLIENT_ID", "")
    client_secret = account.oauth_client_secret
    if not account.oauth_client_id:
        client_secret = client_secret or getattr(settings, f"{prefix}_CLIENT_SECRET", "")
    if not authorize or not token:
        raise OAuthRefused(gettext("The account has no OAuth2 provider endpoints."))
    if not client_id:
        raise OAuthRefused(
            gettext("The account has no OAuth2 client id (set one, or %(setting)s).")
            % {"setting": f"{prefix}_CLIENT_ID"}
        )
    return Endpoints(
        authorize_url=authorize.replace("{tenant}", urllib.parse.quote(tenant, safe="")),
        token_url=token.replace("{tenant}", urllib.parse.quote(tenant, safe="")),
        scope=account.oauth_scope or (preset.scope if preset else ""),
        client_id=client_id,
        client_secret=client_secret,
        authorize_params=preset.authorize_params if preset else {},
    )


def _timeout() -> float:
    return float(getattr(settings, "EMAIL_OAUTH_TIMEOUT", 15))


def _margin() -> timedelta:
    return timedelta(seconds=getattr(settings, "EMAIL_OAUTH_REFRESH_MARGIN_SECONDS", 300))


def token_request(url: str, data: Mapping[str, str]) -> dict[str, Any]:
    """POST a token request (form-encoded, RFC 6749 section 3.2); the JSON answer."""
    request = urllib.request.Request(  # noqa: S310 -- the URL is an admin's https endpoint
        url,
        data=urllib.parse.urlencode(data).encode(),
        headers={"Accept": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=_timeout()) as response:  # noqa: S310
            body = response.read()
    except urllib.error.HTTPError as error:
        answer = _json(error.read())
        code = str(answer.get("error", ""))
        described = f"{code}: {answer.get('error_description', '')}".strip(": ")
        if 400 <= error.code < 500 and code in REFUSALS:
            raise OAuthRefused(
                gettext("The provider refused: %(error)s") % {"error": described}
            ) from error
        raise OAuthError(
            gettext("The token endpoint answered HTTP %(status)s %(error)s")
            % {"status": error.code, "error": described or error.reason}
        ) from error
    except (urllib.error.URLError, OSError) as error:
        raise OAuthError(
            gettext("The token endpoint cannot be reached: %(error)s") % {"error": error}
        ) from error
    answer = _json(body)
    if not answer.get("access_token"):
        raise OAuthError(gettext("The token endpoint's answer holds no access token."))
    return answer


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _store_grant(account: EmailAccount, grant: Mapping[str, Any]) -> list[str]:
    """Put a token answer on the (locked) row; the fields to save."""
    account.oauth_access_token = str(grant["access_token"])
    try:
        lifetime = int(grant.get("expires_in", 3600))
    except (TypeError, ValueError):
        lifetime = 3600
    account.oauth_expires_at = timezone.now() + timedelta(seconds=lifetime)
    fields = ["oauth_access_token", "oauth_expires_at"]
    if grant.get("refresh_token"):  # rotated (Microsoft), or kept (Google sends none)
        account.oauth_refresh_token = str(grant["refresh_token"])
        fields.append("oauth_refresh_token")
    return fields


def _fresh(account: EmailAccount) -> bool:
    return bool(
        account.oauth_access_token
        and account.oauth_expires_at is not None
        and account.oauth_expires_at > timezone.now() + _margin()
    )


TOKEN_FIELDS = (
    "oauth_access_token",
    "oauth_expires_at",
    "oauth_refresh_token",
    "oauth_error",
    "last_error",
)


def access_token(account: EmailAccount, *, force: bool = False) -> str:
    """A valid access token of ``account``, refreshed first when it expires within the
    margin (or ``force``: the server refused the one we have). Raises ``OAuthRefused``
    when an admin must authorize the account (again), ``OAuthError`` otherwise."""
    if not force and _fresh(account):
        return account.oauth_access_token
    stale = account.oauth_access_token
    error: OAuthError | None = None
    with transaction.atomic():
        # The lock is held over the HTTP call on purpose (see the module docstring); the
        # call is bounded by EMAIL_OAUTH_TIMEOUT.
        locked = EmailAccount.objects.select_for_update().get(pk=account.pk)
        renewed_meanwhile = locked.oauth_access_token != stale and _fresh(locked)
        if renewed_meanwhile or (not force and _fresh(locked)):
            pass
        elif locked.oauth_error:
            error = OAuthRefused(_reauthorize(locked.oauth_error))
        elif not locked.oauth_refresh_token:
            error = OAuthRefused(gettext("Not authorized yet: authorize the account in the admin."))
        else:
            error = _refresh_locked(locked)
    for name in TOKEN_FIELDS:
        setattr(account, name, getattr(locked, name))
    if error is not None:
        raise error
    return account.oauth_access_token


def polling_paused() -> Q:
    """The OAuth2 accounts not to poll: the provider refused their grant (``oauth_error``)
    or none was given yet. Signing in could only fail without asking anyone, every poll;
    authorizing the account (or changing its OAuth2 settings) clears the refusal, which
    resumes polling."""
    return Q(auth_method=AuthMethod.OAUTH2) & (~Q(oauth_error="") | Q(oauth_refresh_token=""))


def pause_reason(account: EmailAccount) -> str:
    """Why ``account`` is not polled (``polling_paused``), or ``""``."""
    if account.auth_method != AuthMethod.OAUTH2:
        return ""
    if account.oauth_error:
        return gettext("Paused: the provider refused the OAuth2 grant; re-authorize.")
    if not account.oauth_refresh_token:
        return gettext("Paused: not authorized yet.")
    return ""


def _reauthorize(reason: str) -> str:
    return gettext("%(reason)s — re-authorize the account in the admin.") % {"reason": reason}


def _refresh_locked(account: EmailAccount) -> OAuthError | None:
    """Refresh the locked row's access token; the error, recorded when it is a refusal."""
    try:
        config = endpoints(account)
        data = {
            "grant_type": "refresh_token",
            "refresh_token": account.oauth_refresh_token,
            "client_id": config.client_id,
        }
        if config.client_secret:
            data["client_secret"] = config.client_secret
        if config.scope:
            data["scope"] = config.scope
        grant = token_request(config.token_url, data)
    except OAuthRefused as refused:
        account.oauth_error = str(refused)[:2000]
        account.last_error = _reauthorize(account.oauth_error)[:2000]
        account.oauth_access_token = ""
        account.oauth_expires_at = None
        account.save(
            update_fields=["oauth_error", "last_error", "oauth_access_token", "oauth_expires_at"]
        )
        events.publish(
            events.OAUTH_FAILED,
            subject=account,
            actor=None,
            payload={"reason": account.oauth_error},
        )
        return OAuthRefused(account.last_error)
    except OAuthError as error:
        return error
    account.save(update_fields=_store_grant(account, grant))
    return None


# The consent flow -------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def consent_start(*, actor: User, account: EmailAccount, redirect_uri: str, session: Any) -> str:
    """The provider's authorization URL to send the admin to; its state and PKCE
    verifier are kept in ``session`` (the admin's) for ``consent_finish``."""
    require_admin(actor, "authorize mail accounts")
    if account.auth_method != AuthMethod.OAUTH2:
        raise OAuthRefused(gettext("The account does not sign in with OAuth2."))
    config = endpoints(account)
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters: RFC 7636 wants 43 to 128
    pending = {
        key: value
        for key, value in dict(session.get(SESSION_KEY, {})).items()
        if value.get("started", 0) > time.time() - CONSENT_SECONDS
    }
    pending[state] = {
        "account": account.pk,
        "actor": actor.pk,
        "verifier": verifier,
        "redirect_uri": redirect_uri,
        "started": time.time(),
    }
    session[SESSION_KEY] = pending
    query = {
        "response_type": "code",
        "client_id": config.client_id,
        "redirect_uri": redirect_uri,
        "scope": config.scope,
        "state": state,
        "code_challenge": _b64url(hashlib.sha256(verifier.encode()).digest()),
        "code_challenge_method": "S256",
        "login_hint": account.username or account.address,
        **config.authorize_params,
    }
    separator = "&" if "?" in config.authorize_url else "?"
    return config.authorize_url + separator + urllib.parse.urlencode(query)


def consent_finish(*, actor: User, params: Mapping[str, str], session: Any) -> EmailAccount:
    """Take the provider's redirect back: check the state against the session, exchange
    the code for tokens, store them. Raises ``OAuthRefused`` with what went wrong (a
    state we did not issue, the provider's error, a grant without refresh token)."""
    require_admin(actor, "authorize mail accounts")
    pending = dict(session.get(SESSION_KEY, {}))
    started = pending.pop(str(params.get("state", "")), None)
    session[SESSION_KEY] = pending  # a state is good for one answer
    if (
        started is None
        or started.get("actor") != actor.pk
        or started.get("started", 0) < time.time() - CONSENT_SECONDS
    ):
        raise OAuthRefused(
            gettext(
                "This authorization answer does not match one started here (an unknown or "
                "expired state): start again from the account's page."
            )
        )
    account = EmailAccount.objects.get(pk=started["account"])
    try:
        return _consent_exchange(actor=actor, account=account, params=params, started=started)
    except OAuthError as error:
        error.account_id = account.pk  # the admin is sent back to its page
        raise


def _consent_exchange(
    *, actor: User, account: EmailAccount, params: Mapping[str, str], started: Mapping[str, Any]
) -> EmailAccount:
    if params.get("error"):
        raise OAuthRefused(
            gettext("The provider refused the authorization: %(error)s")
            % {"error": f"{params['error']}: {params.get('error_description', '')}".strip(": ")}
        )
    if not params.get("code"):
        raise OAuthRefused(gettext("The provider's answer holds no authorization code."))
    config = endpoints(account)
    data = {
        "grant_type": "authorization_code",
        "code": params["code"],
        "redirect_uri": started["redirect_uri"],
        "client_id": config.client_id,
        "code_verifier": started["verifier"],
    }
    if config.client_secret:
        data["client_secret"] = config.client_secret
    grant = token_request(config.token_url, data)
    if not grant.get("refresh_token"):
        raise OAuthRefused(
            gettext(
                "The provider issued no refresh token (Microsoft needs the offline_access "
                "scope; Google offline access on a consent screen)."
            )
        )
    with transaction.atomic():
        locked = EmailAccount.objects.select_for_update().get(pk=account.pk)
        fields = _store_grant(locked, grant)
        locked.oauth_authorized_at = timezone.now()
        locked.oauth_error = locked.last_error = ""
        locked.save(update_fields=[*fields, "oauth_authorized_at", "oauth_error", "last_error"])
        events.publish(
            events.OAUTH_AUTHORIZED,
            subject=locked,
            actor=actor,
            payload={
                "provider": locked.oauth_provider,
                "scope": str(grant.get("scope", config.scope)),
            },
        )
    return locked


# SASL and the three protocols ------------------------------------------------------------


def xoauth2(user: str, token: str) -> str:
    """The XOAUTH2 initial response (Google's and Microsoft's mechanism)."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def oauthbearer(user: str, token: str, host: str, port: int) -> str:
    """The OAUTHBEARER initial response (RFC 7628): a GS2 header naming the user
    (``,`` and ``=`` escaped, RFC 5801) and key-value pairs."""
    authzid = user.replace("=", "=3D").replace(",", "=2C")
    return f"n,a={authzid},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01"


def mechanism(offered: Iterable[str]) -> str:
    """XOAUTH2 if the server offers it or offers neither; OAUTHBEARER if only that."""
    names = {name.upper() for name in offered}
    if "XOAUTH2" not in names and "OAUTHBEARER" in names:
        return "OAUTHBEARER"
    return "XOAUTH2"


def initial_response(account: EmailAccount, mech: str, token: str, host: str, port: int) -> str:
    if mech == "OAUTHBEARER":
        return oauthbearer(account.username, token, host, port)
    return xoauth2(account.username, token)


def _with_token(account: EmailAccount, attempt: Callable[[str], None]) -> None:
    """``attempt`` with the access token; once more with a refreshed one if the server
    refused (``_Refused``) a token we held for fresh."""
    try:
        attempt(access_token(account))
    except _Refused:
        attempt(access_token(account, force=True))


class _Refused(Exception):  # noqa: N818 -- internal signal: the server said no to the token
    pass


def _answers(first: str) -> Callable[..., str]:
    """A SASL client for imaplib and smtplib (which base64-encode what it returns): the
    initial response, then an empty line, which is how a client acknowledges the error
    challenge a server sends after refusing a bearer token (RFC 7628, section 3.2.3)."""
    sent = [False]

    def answer(challenge: bytes | None = None) -> str:
        if sent[0]:
            return ""
        sent[0] = True
        return first

    return answer


def imap_login(client: imaplib.IMAP4, account: EmailAccount) -> None:
    if account.auth_method != AuthMethod.OAUTH2:
        client.login(account.username, account.password)
        return
    offered = [c[5:] for c in client.capabilities if c.upper().startswith("AUTH=")]
    mech = mechanism(offered)

    def attempt(token: str) -> None:
        payload = initial_response(account, mech, token, client.host, client.port)
        try:
            answer = _answers(payload)
            client.authenticate(mech, lambda challenge: answer(challenge).encode())
        except imaplib.IMAP4.error as error:
            raise _Refused(str(error)) from error

    try:
        _with_token(account, attempt)
    except _Refused as refused:
        raise imaplib.IMAP4.error(
            gettext("The IMAP server refused the OAuth2 token: %(error)s") % {"error": refused}
        ) from refused


def pop3_login(client: poplib.POP3, account: EmailAccount) -> None:
    """USER/PASS, or ``AUTH <mechanism> <initial response>`` (RFC 5034), which poplib
    has no method for: sent and read with its line primitives."""
    if account.auth_method != AuthMethod.OAUTH2:
        client.user(account.username)
        client.pass_(account.password)
        return
    try:
        offered = client.capa().get("SASL", [])
    except poplib.error_proto:
        offered = []
    mech = mechanism(offered)

    # poplib's line primitives, which its stubs do not declare.
    lines: Any = client

    def attempt(token: str) -> None:
        payload = initial_response(account, mech, token, client.host, client.port)
        lines._putcmd(f"AUTH {mech} {base64.b64encode(payload.encode()).decode()}")
        line, _ = lines._getline()
        if line.startswith(b"+ "):  # the error challenge: acknowledge it, then -ERR comes
            lines._putcmd("")
            line, _ = lines._getline()
        if not line.startswith(b"+OK"):
            raise _Refused(line.decode(errors="replace"))

    try:
        _with_token(account, attempt)
    except _Refused as refused:
        raise poplib.error_proto(
            gettext("The POP3 server refused the OAuth2 token: %(error)s") % {"error": refused}
        ) from refused


class AccountSMTPBackend(EmailBackend):
    """Django's SMTP backend on the account's own server, signed in as the account: its
    password, or an OAuth2 bearer token."""

    def __init__(self, account: EmailAccount, **kwargs: Any) -> None:
        self.account = account
        password_login = account.auth_method != AuthMethod.OAUTH2
        security = account.smtp_security
        super().__init__(
            host=account.smtp_host,
            port=account.smtp_port or {"tls": 465, "starttls": 587}.get(security, 25),
            username=account.username if password_login else "",
            password=account.password if password_login else "",
            use_tls=security == SMTPSecurity.STARTTLS,
            use_ssl=security == SMTPSecurity.TLS,
            fail_silently=False,
            **kwargs,
        )

    def open(self) -> bool | None:
        opened = super().open()
        if not opened or self.account.auth_method != AuthMethod.OAUTH2:
            return opened
        connection = self.connection
        assert connection is not None  # noqa: S101 -- open() just made it
        connection.ehlo_or_helo_if_needed()
        mech = mechanism(connection.esmtp_features.get("auth", "").split())

        def attempt(token: str) -> None:
            payload = initial_response(self.account, mech, token, self.host, self.port)
            try:
                connection.auth(mech, _answers(payload), initial_response_ok=True)
            except smtplib.SMTPAuthenticationError as error:
                raise _Refused(str(error)) from error

        try:
            _with_token(self.account, attempt)
        except _Refused as refused:
            self.close()
            raise smtplib.SMTPAuthenticationError(
                535,
                gettext("The SMTP server refused the OAuth2 token: %(error)s") % {"error": refused},
            ) from refused
        except BaseException:
            self.close()
            raise
        return opened
