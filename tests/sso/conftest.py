"""Single sign-on tests: a real OpenID provider (node oidc-provider, tests/sso/provider.mjs)
on a loopback port, and the desk's settings pointing at it."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import environ
import pytest
from django.core.cache import cache
from pytest_django.fixtures import Settings
from pytest_django.live_server_helper import LiveServer

from sso import conf
from tests.support.processes import REPO, free_port

PROVIDER_SCRIPT = Path(__file__).with_name("provider.mjs")
PROVIDER_PACKAGE = REPO / "var/oidc-provider/node_modules/oidc-provider/package.json"
CLIENT_ID = "nixflow-desk"
CLIENT_SECRET = "a-secret-for-the-tests-only"
ROLE_MAP = {"desk-agents": "agent", "desk-admins": "admin"}
TEAM_MAP = {"support-first-line": "First line", "support-billing": "Billing"}


@dataclass
class Provider:
    """The running test provider; ``accounts`` is rewritten on every change, and the
    provider reads it on every request."""

    issuer: str
    accounts_file: Path
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def account(
        self,
        login: str,
        *,
        email: str,
        verified: bool = True,
        name: str = "",
        groups: list[str] | None = None,
        sub: str = "",
        password: str = "provider-password",  # noqa: S107 (the test provider's)
    ) -> None:
        claims: dict[str, Any] = {"email": email, "email_verified": verified, "groups": []}
        if name:
            claims["name"] = name
        if groups is not None:
            claims["groups"] = groups
        self.accounts[login] = {
            "password": password,
            "claims": claims,
            **({"sub": sub} if sub else {}),
        }
        self.accounts_file.write_text(json.dumps(self.accounts))

    def set_groups(self, login: str, groups: list[str]) -> None:
        self.accounts[login]["claims"]["groups"] = groups
        self.accounts_file.write_text(json.dumps(self.accounts))

    def disable(self, login: str) -> None:
        """As an administrator at the provider would: ``login`` cannot sign in, and its
        running session no longer counts (provider.mjs)."""
        self.accounts[login]["disabled"] = True
        self.accounts_file.write_text(json.dumps(self.accounts))


def _wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            pytest.fail(f"The test OpenID provider exited ({process.returncode}): {output}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (loopback)
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    pytest.fail(f"The test OpenID provider did not answer {url}")


@pytest.fixture(scope="module")
def provider(
    live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Provider]:
    if not PROVIDER_PACKAGE.exists():
        pytest.fail("node oidc-provider is needed: run scripts/oidc_deps.sh (make test does).")
    folder = tmp_path_factory.mktemp("oidc-provider")
    accounts_file = folder / "accounts.json"
    accounts_file.write_text("{}")
    client_file = folder / "client.json"
    client_file.write_text(
        json.dumps(
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [f"{live_server.url}/sso/callback/"],
                "post_logout_redirect_uris": [f"{live_server.url}/sso/signed-out/"],
            }
        )
    )
    port = free_port()
    process = subprocess.Popen(
        ["node", str(PROVIDER_SCRIPT), str(port), str(accounts_file), str(client_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    issuer = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{issuer}/.well-known/openid-configuration", process)
        yield Provider(issuer=issuer, accounts_file=accounts_file)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


SsoSettings = Callable[..., None]


@pytest.fixture
def sso_settings(
    settings: Settings, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SsoSettings]:
    """``sso_settings(OIDC_STAFF_PASSWORDS="off", ...)``: the desk configured for the test
    provider through the environment, as nixflow/settings.py reads it."""
    backends = list(settings.AUTHENTICATION_BACKENDS)

    def configure(**overrides: str) -> None:
        env = {
            "OIDC_CLIENT_ID": CLIENT_ID,
            "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_ISSUER": provider.issuer,
            "OIDC_PROVIDER_NAME": "Example ID",
            "OIDC_SCOPES": "openid email profile groups",
            "OIDC_ROLE_CLAIM": "groups",
            "OIDC_ROLE_MAP": json.dumps(ROLE_MAP),
            "OIDC_TEAMS_CLAIM": "groups",
            "OIDC_TEAM_MAP": json.dumps(TEAM_MAP),
            **overrides,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        for name, value in conf.settings_from_env(
            environ.Env(), authentication_backends=backends
        ).items():
            setattr(settings, name, value)

    configure()
    yield configure
    cache.clear()


SESSION_REFRESH = "sso.middleware.SessionRefresh"
AUTHENTICATION_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"


def with_session_refresh(middleware: list[str]) -> list[str]:
    """MIDDLEWARE with sso.middleware.SessionRefresh right after AuthenticationMiddleware,
    where docs/sso.md puts it."""
    if SESSION_REFRESH in middleware:
        return list(middleware)
    at = middleware.index(AUTHENTICATION_MIDDLEWARE) + 1
    return [*middleware[:at], SESSION_REFRESH, *middleware[at:]]


@pytest.fixture
def session_refresh(settings: Settings, live_server: LiveServer) -> Iterator[None]:
    """The session refresh in the live server's middleware. The server built its chain
    when it started, from MIDDLEWARE as it was then: when that lacks the refresh, the
    chain is built again with it, and once more afterwards without."""
    if SESSION_REFRESH in settings.MIDDLEWARE:
        yield
        return
    # StaticFilesHandler(_MediaFilesHandler(WSGIHandler())), as LiveServerThread has it.
    static_files: Any = live_server.thread.httpd.get_app()
    handler = static_files.application.application
    settings.MIDDLEWARE = with_session_refresh(settings.MIDDLEWARE)
    handler.load_middleware()
    try:
        yield
    finally:
        settings.MIDDLEWARE = [name for name in settings.MIDDLEWARE if name != SESSION_REFRESH]
        handler.load_middleware()
