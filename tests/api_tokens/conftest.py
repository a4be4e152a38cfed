from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

import pytest
from rest_framework.test import APIClient

from api_tokens.services import CreatedToken, api_token_create
from nixflow.models import User

MakeToken = Callable[..., CreatedToken]


@pytest.fixture
def make_token() -> MakeToken:
    """``make_token(user, "tickets:read", ...)``: a token of ``user``'s, made through the
    service, with its string."""

    def make(
        user: User,
        *scopes: str,
        name: str = "",
        expires_at: datetime | None = None,
    ) -> CreatedToken:
        return api_token_create(
            actor=user,
            name=name or f"token {'+'.join(scopes)}"[:100],
            scopes=list(scopes),
            expires_at=expires_at,
        )

    return make


def bearer(secret: str, scheme: str = "Bearer") -> APIClient:
    """An API client that sends ``Authorization: <scheme> <secret>`` and nothing else."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {secret}")
    return client


def scopes_of(tokens: Iterable[CreatedToken]) -> list[list[str]]:
    return [list(token.token.scopes) for token in tokens]
