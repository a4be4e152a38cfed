"""An OAuth2 provider on loopback, and mail servers that take only its bearer tokens.

``TokenServer`` (stdlib http.server in a thread) is the provider: an authorization
endpoint that consents at once (redirects back with a code), a token endpoint (the code
with its PKCE verifier, or a refresh token, for an access token), and an introspection
endpoint (RFC 7662) that Dovecot's ``oauth2`` passdb asks about each token it is given.
A test can expire an access token or revoke a refresh token there.

``start_oauth_dovecot`` runs a private Dovecot whose only passdb is ``oauth2``: a
password does not log in, a live token does, by XOAUTH2 or OAUTHBEARER (RFC 7628) on
IMAP and POP3, or by the one mechanism it is told to offer. ``start_oauth_smtp`` is aiosmtpd taking
AUTH XOAUTH2 and OAUTHBEARER with a live token of the right user, nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

from tests.email_integration.servers import (
    CONFIG,
    CapturingHandler,
    Dovecot,
    SMTPServer,
    free_port,
    start_dovecot,
)

CLIENT_ID = "nixflow-test-client"
CLIENT_SECRET = "nixflow-test-secret"


@dataclass
class TokenServer:
    """The provider's state; ``url`` its base address."""

    url: str = ""
    lifetime: int = 3600
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # token → user
    access_tokens: dict[str, str] = field(default_factory=dict)  # live token → user
    refreshes: int = 0
    refresh_delay: float = 0.0  # seconds a refresh takes: widens a race for a test
    introspections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    httpd: ThreadingHTTPServer | None = None

    def grant(self, user: str) -> tuple[str, str]:
        """A refresh token and an access token for ``user``, as if consented."""
        refresh = f"rt-{secrets.token_urlsafe(16)}"
        with self.lock:
            self.refresh_tokens[refresh] = user
        return refresh, self._access(user)

    def _access(self, user: str) -> str:
        token = f"at-{secrets.token_urlsafe(24)}"
        with self.lock:
            self.access_tokens[token] = user
        return token

    def expire(self, token: str) -> None:
        with self.lock:
            self.access_tokens.pop(token, None)

    def revoke(self, refresh_token: str) -> None:
        with self.lock:
            self.refresh_tokens.pop(refresh_token, None)

    def live(self, token: str, user: str) -> bool:
        with self.lock:
            return self.access_tokens.get(token) == user

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()


def _handler(provider: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            if url.path != "/authorize":
                self._answer(404, {})
                return
            query = dict(urllib.parse.parse_qsl(url.query))
            # Consent at once, for the user named in login_hint.
            code = secrets.token_urlsafe(16)
            with provider.lock:
                provider.codes[code] = {
                    "user": query.get("login_hint", ""),
                    "challenge": query.get("code_challenge", ""),
                    "redirect_uri": query.get("redirect_uri", ""),
                    "client_id": query.get("client_id", ""),
                }
            back = {"code": code, "state": query.get("state", "")}
            self.send_response(302)
            self.send_header("Location", f"{query['redirect_uri']}?{urllib.parse.urlencode(back)}")
            self.end_headers()

        def do_POST(self) -> None:  # noqa: PLR0911 -- one answer per endpoint and outcome
            length = int(self.headers.get("Content-Length", "0"))
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            if self.path == "/introspect":
                with provider.lock:
                    provider.introspections += 1
                    user = provider.access_tokens.get(form.get("token", ""))
                self._answer(
                    200, {"active": "true", "username": user} if user else {"active": "false"}
                )
                return
            if self.path != "/token":
                self._answer(404, {})
                return
            if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
                self._answer(
                    401, {"error": "invalid_client", "error_description": "Unknown client."}
                )
                return
            if form.get("grant_type") == "refresh_token":
                time.sleep(provider.refresh_delay)
                with provider.lock:
                    provider.refreshes += 1
                    user = provider.refresh_tokens.get(form.get("refresh_token", ""))
                if user is None:
                    self._answer(
                        400,
                        {"error": "invalid_grant", "error_description": "The token was revoked."},
                    )
                    return
                self._answer(
                    200,
                    {
                        "access_token": provider._access(user),
                        "token_type": "Bearer",
                        "expires_in": provider.lifetime,
                    },
                )
                return
            if form.get("grant_type") == "authorization_code":
                with provider.lock:
                    code = provider.codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                challenge = (
                    base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                    .rstrip(b"=")
                    .decode()
                )
                if (
                    code is None
                    or code["challenge"] != challenge
                    or code["redirect_uri"] != form.get("redirect_uri")
                ):
                    self._answer(400, {"error": "invalid_grant", "error_description": "Bad code."})
                    return
                refresh, access = provider.grant(code["user"])
                self._answer(
                    200,
                    {
                        "access_token": access,
                        "refresh_token": refresh,
                        "token_type": "Bearer",
                        "expires_in": provider.lifetime,
                        "scope": "mail",
                    },
                )
                return
            self._answer(400, {"error": "unsupported_grant_type"})

    return Handler


def start_token_server() -> TokenServer:
    provider = TokenServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider))
    provider.httpd = httpd
    provider.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return provider


# Dovecot's oauth2 passdb (2.3): each token it is given is posted to the introspection
# URL as ``token=...``; the answer's ``active`` must be "true" and its ``username`` the
# user logging in.
OAUTH2_EXT = """
introspection_mode = post
introspection_url = {introspection_url}
username_attribute = username
active_attribute = active
active_value = true
"""

OAUTH_CONFIG = CONFIG.replace(
    "auth_mechanisms = plain login", "auth_mechanisms = xoauth2 oauthbearer"
).replace(
    """passdb {{
  driver = static
  args = password={password}
}}""",
    """passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {root}/dovecot-oauth2.conf.ext
}}""",
)


def start_oauth_dovecot(provider: TokenServer, mechanisms: str = "xoauth2 oauthbearer") -> Dovecot:
    """Dovecot offering ``mechanisms`` (both by default; a client then picks XOAUTH2,
    so a test of OAUTHBEARER starts one offering only that)."""
    ext = OAUTH2_EXT.replace("{introspection_url}", f"{provider.url}/introspect")
    config = OAUTH_CONFIG.replace(
        "auth_mechanisms = xoauth2 oauthbearer", f"auth_mechanisms = {mechanisms}"
    )
    return start_dovecot(config, files={"dovecot-oauth2.conf.ext": ext})


class OAuthSMTPHandler(CapturingHandler):
    """Captures mail, and takes AUTH XOAUTH2 / OAUTHBEARER with a live token only."""

    provider: TokenServer

    async def _bearer(self, server: SMTP, args: list[str], user_key: str) -> AuthResult:
        if len(args) < 2:
            return AuthResult(success=False, handled=False)
        text = base64.b64decode(args[1]).decode()
        pairs = dict(part.split("=", 1) for part in text.split("\x01") if "=" in part)
        if user_key == "a":  # OAUTHBEARER: the user is in the GS2 header "n,a=user,"
            header = text.split("\x01", 1)[0]
            user = header.split("a=", 1)[1].rstrip(",") if "a=" in header else ""
        else:
            user = pairs.get("user", "")
        token = pairs.get("auth", "").removeprefix("Bearer ")
        if self.provider.live(token, user):
            return AuthResult(success=True, auth_data=user)
        # The error challenge of RFC 7628; the client answers it with an empty line.
        await server.challenge_auth(json.dumps({"status": "invalid_token"}))
        return AuthResult(success=False, handled=False, message="535 5.7.8 Invalid token")

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:  # noqa: N802
        return await self._bearer(server, args, "user")

    async def auth_OAUTHBEARER(self, server: SMTP, args: list[str]) -> AuthResult:  # noqa: N802
        return await self._bearer(server, args, "a")


def start_oauth_smtp(provider: TokenServer, *, exclude: list[str] | None = None) -> SMTPServer:
    handler = OAuthSMTPHandler()
    handler.provider = provider
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        server_hostname="localhost",
        auth_require_tls=False,
        auth_required=True,
        auth_exclude_mechanism=["PLAIN", "LOGIN", *(exclude or [])],
    )
    controller.start()
    return SMTPServer("127.0.0.1", port, handler, controller)
