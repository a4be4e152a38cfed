"""DATABASE_REPLICA_URL read into settings (nixflow/platform/replica.py), and the router's
rule: only reads inside replica_reads() go to the replica."""

from __future__ import annotations

from typing import Any

import environ
import pytest

from nixflow.platform import replica

PRIMARY = {"default": {"NAME": "nixflow", "CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": True}}


def _settings(monkeypatch: pytest.MonkeyPatch, **variables: str) -> dict[str, Any]:
    monkeypatch.delenv("DATABASE_REPLICA_URL", raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return replica.settings_from_env(environ.Env(), databases=dict(PRIMARY))


def test_without_a_replica_url_the_databases_stay_as_they_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _settings(monkeypatch) == {"DATABASES": PRIMARY}


def test_a_replica_url_adds_the_alias_and_the_router(monkeypatch: pytest.MonkeyPatch) -> None:
    added = _settings(
        monkeypatch, DATABASE_REPLICA_URL="postgres://reader@replica.internal/nixflow"
    )
    alias = added["DATABASES"]["replica"]
    assert alias["HOST"] == "replica.internal"
    assert (alias["USER"], alias["NAME"]) == ("reader", "nixflow")
    assert alias["CONN_MAX_AGE"] == 60  # as the primary's
    assert alias["OPTIONS"]["connect_timeout"] == 3
    assert alias["TEST"] == {"MIRROR": "default"}
    assert added["DATABASES"]["default"] == PRIMARY["default"]
    assert added["DATABASE_ROUTERS"] == ["nixflow.platform.replica.ReplicaRouter"]


def test_the_url_s_connect_timeout_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    added = _settings(
        monkeypatch, DATABASE_REPLICA_URL="postgres://r@replica/nixflow?connect_timeout=10"
    )
    assert added["DATABASES"]["replica"]["OPTIONS"]["connect_timeout"] == 10


def test_the_router_sends_only_reads_inside_replica_reads_to_the_replica() -> None:
    router = replica.ReplicaRouter()
    assert router.db_for_read(None) is None  # Django's default: the primary
    token = replica._reading_from.set(replica.REPLICA)
    try:
        assert router.db_for_read(None) == "replica"
        assert router.db_for_write(None) == "default"
    finally:
        replica._reading_from.reset(token)
    assert router.allow_migrate("replica", "nixflow") is False
    assert router.allow_migrate("default", "nixflow") is True
