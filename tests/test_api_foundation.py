"""The API foundation: the OpenAPI schema, Swagger UI with no CDN, and who /api/me/ is."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.http import HttpRequest
from django.templatetags.static import static
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from nixflow.models import Role, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # UserFactory's
SWAGGER_UI = "drf_spectacular_sidecar/swagger-ui-dist/"


def obtain_token(client: APIClient, username: str, password: str) -> tuple[int, dict]:
    response = client.post(
        "/api/auth/token/", {"username": username, "password": password}, format="json"
    )
    return response.status_code, response.json()


# --- the schema and its docs ------------------------------------------------------------


def test_schema_is_an_openapi_3_document_that_describes_me_and_the_token_endpoint(
    client: Client,
) -> None:
    response = client.get("/api/schema/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    document = yaml.safe_load(response.content)
    assert document["openapi"].startswith("3.")
    assert "get" in document["paths"]["/api/me/"]
    assert "post" in document["paths"]["/api/auth/token/"]
    assert "tokenAuth" in document["components"]["securitySchemes"]


def test_schema_is_served_as_json_on_request(client: Client) -> None:
    response = client.get("/api/schema/?format=json")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    document = json.loads(response.content)
    assert document["openapi"].startswith("3.")
    assert "/api/me/" in document["paths"]


def test_docs_page_loads_swagger_ui_from_our_static_files_not_a_cdn(client: Client) -> None:
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "cdn.jsdelivr" not in html
    assert "unpkg" not in html
    assets = re.findall(r'<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"', html)
    assert static(SWAGGER_UI + "swagger-ui-bundle.js") in assets
    assert static(SWAGGER_UI + "swagger-ui.css") in assets
    for asset in assets:
        assert not asset.startswith(("http://", "https://", "//")), asset
        # Its start script comes from the view itself, as a file: no inline script (CSP).
        assert asset.startswith(static(SWAGGER_UI)) or asset == "/api/docs/?script=", asset


@pytest.mark.parametrize("name", ["swagger-ui-bundle.js", "swagger-ui.css"])
def test_swagger_ui_assets_are_served_from_the_sidecar_package(name: str, client: Client) -> None:
    found = finders.find(SWAGGER_UI + name)
    assert found is not None
    assert "drf_spectacular_sidecar" in found

    response = client.get(static(SWAGGER_UI + name))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == Path(found).read_bytes()


# --- /api/me/ and how a client authenticates ---------------------------------------------


def test_me_without_credentials_is_401_with_a_token_challenge(api_client: APIClient) -> None:
    response = api_client.get("/api/me/")

    assert response.status_code == 401
    # DRF challenges with the first authenticator: token auth, so that API clients are
    # told to send a token instead of getting a 403 meant for browser sessions.
    assert response["WWW-Authenticate"] == "Token"


def test_token_from_username_and_password_authenticates_me(api_client: APIClient) -> None:
    agent = UserFactory(username="alice", role=Role.AGENT)

    status, body = obtain_token(api_client, "alice", PASSWORD)

    assert status == 200
    assert body == {"token": Token.objects.get(user=agent).key}
    token_client = APIClient()  # no session: only the header can authenticate
    token_client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    response = token_client.get("/api/me/")
    assert response.status_code == 200
    assert response.json() == {
        "id": agent.pk,
        "username": "alice",
        "email": "alice@example.com",
        "first_name": "",
        "last_name": "",
        "role": "agent",
        "availability": "available",
    }


def test_wrong_password_gets_400_and_no_token(api_client: APIClient) -> None:
    user = UserFactory(username="carol")

    status, body = obtain_token(api_client, "carol", "not the password")

    assert status == 400
    assert "token" not in body
    assert "non_field_errors" in body
    assert not Token.objects.filter(user=user).exists()


def test_unknown_token_is_401(api_client: APIClient) -> None:
    api_client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)

    response = api_client.get("/api/me/")

    assert response.status_code == 401


def test_inactive_user_cannot_get_a_token(api_client: APIClient) -> None:
    user = UserFactory(username="dave", is_active=False)

    status, body = obtain_token(api_client, "dave", PASSWORD)

    assert status == 400
    assert "token" not in body
    assert not Token.objects.filter(user=user).exists()


def test_token_of_a_deactivated_user_no_longer_authenticates(api_client: APIClient) -> None:
    user = UserFactory(username="dave")
    token = Token.objects.create(user=user)
    User.objects.filter(pk=user.pk).update(is_active=False)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    response = api_client.get("/api/me/")

    assert response.status_code == 401


def test_browser_session_authenticates_me(client: Client) -> None:
    UserFactory(username="carol", role=Role.REQUESTER)
    # django-axes checks every sign-in against the request it came with.
    assert client.login(request=HttpRequest(), username="carol", password=PASSWORD)

    response = client.get("/api/me/")

    assert response.status_code == 200
    assert response.json()["username"] == "carol"
    assert response.json()["role"] == "requester"


def test_forced_session_login_authenticates_me(api_client: APIClient) -> None:
    admin = UserFactory(username="ada", role=Role.ADMIN)
    api_client.force_login(admin)

    response = api_client.get("/api/me/")

    assert response.status_code == 200
    assert response.json()["role"] == "admin"
