"""Two hosts sharing nothing on disk: two gunicorn web processes and two Celery workers,
each with a ``NIXFLOW_VAR_DIR`` of its own, one PostgreSQL, a Redis broker and cache, and
an S3 server for files. What one host did, the other sees: an attachment uploaded
through host A downloads through host B, a task queued on A is done, and the sign-in
lockout and the rate limits count across both."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.faults.stack import Redis, wait_until
from tests.hosts.conftest import host_env
from tests.support.processes import (
    RELAY_READY,
    ScratchDatabase,
    celery_worker_cmd,
    free_port,
    gunicorn_cmd,
    relay_cmd,
    run,
    running,
)
from tests.support.s3 import S3Server

# Seven processes start on one machine: minutes when it is busy.
pytestmark = [
    pytest.mark.subprocess,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(1200),
]

BOOT = 240  # seconds a process may take to start on a loaded machine

SETUP = """
from rest_framework.authtoken.models import Token
from nixflow.models import Role
from nixflow.services import user_create
from tests.factories import default_workflow

default_workflow()
agent = user_create(username="agent", email="agent@desk.test", role=Role.AGENT)
agent.set_password("correct horse battery")
agent.save()
print("AGENT", Token.objects.create(user=agent).key)
dave = user_create(username="dave", email="dave@example.com", role=Role.REQUESTER)
print("REQUESTER", Token.objects.create(user=dave).key)
"""


def _files(var_dir: Path) -> set[str]:
    return {str(p.relative_to(var_dir)) for p in var_dir.rglob("*") if p.is_file()}


def _web(exits: ExitStack, env: dict[str, str]) -> str:
    port = free_port()
    exits.enter_context(running(gunicorn_cmd(port), env, "Booting worker", timeout=BOOT))
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(base + "/readyz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(f"{base}/readyz", answers, timeout=BOOT)
    return base


@pytest.fixture
def hosts(
    host_db: ScratchDatabase, s3_server: S3Server, tmp_path: Path
) -> Iterator[dict[str, str]]:
    """Hosts A and B (web and worker each), the outbox relay on A; yields their base URLs
    and the API tokens."""
    redis = Redis(free_port(), tmp_path)
    redis.start()
    bucket = s3_server.create_bucket("hosts")
    shared = {
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis.port}/0",
        "CACHE_URL": f"redis://127.0.0.1:{redis.port}/1",
        "STORAGE_URL": s3_server.storage_url(bucket),
        "AXES_FAILURE_LIMIT": "3",
        "THROTTLE_LOGIN_RATE": "6/minute",
        "EVENTLOG_OUTBOX_POLL_SECONDS": "1",
    }
    env_a = host_env(host_db, tmp_path / "a", **shared)
    env_b = host_env(host_db, tmp_path / "b", **shared)
    done = run([sys.executable, "manage.py", "shell", "-c", SETUP], env_a)
    assert done.returncode == 0, done.output
    tokens = dict(line.split()[:2] for line in done.output.splitlines() if line[:1].isupper())
    try:
        with ExitStack() as exits:
            exits.enter_context(running(celery_worker_cmd(), env_a, " ready.", timeout=BOOT))
            exits.enter_context(running(celery_worker_cmd(), env_b, " ready.", timeout=BOOT))
            exits.enter_context(running(relay_cmd(), env_a, RELAY_READY, timeout=BOOT))
            yield {"A": _web(exits, env_a), "B": _web(exits, env_b), "bucket": bucket, **tokens}
    finally:
        redis.stop()


def test_two_hosts_share_files_tasks_sign_in_lockouts_and_rate_limits(
    hosts: dict[str, str], host_db: ScratchDatabase, s3_server: S3Server, tmp_path: Path
) -> None:
    """An attachment uploaded through A downloads through B; A's tasks are done; then
    the lockout and the sign-in rate (below)."""
    requester = {"Authorization": f"Token {hosts['REQUESTER']}"}
    agent = {"Authorization": f"Token {hosts['AGENT']}"}
    created = httpx.post(
        hosts["A"] + "/api/tickets/", json={"title": "Printer on fire"}, headers=requester
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    body = b"%PDF-1.4 the printer's log\n" * 100
    commented = httpx.post(
        f"{hosts['A']}/api/tickets/{key}/comments/",
        data={"body": "The log."},
        files={"attachments": ("log.pdf", body, "application/pdf")},
        headers=requester,
    )
    assert commented.status_code == 201, commented.text
    (attachment,) = commented.json()["attachments"]

    download = httpx.get(
        f"{hosts['B']}/api/tickets/{key}/attachments/{attachment['id']}/",
        headers=agent,
        follow_redirects=True,
    )
    assert download.status_code == 200, download.text
    assert download.content == body
    # The file is an object in the bucket, not a file on host A.
    listing = s3_server.client().list_objects_v2(Bucket=hosts["bucket"])
    stored = [entry["Key"] for entry in listing.get("Contents", [])]
    assert len(stored) == 1, stored
    stored_object = s3_server.client().get_object(Bucket=hosts["bucket"], Key=stored[0])
    assert stored_object["Body"].read() == body

    # The tasks A's changes queued (through the outbox) were published and done.
    wait_until(
        "the outbox drained and events delivered",
        lambda: (
            host_db.sql(
                "SELECT count(*) = 0 FROM eventlog_outboxmessage WHERE published_at IS NULL"
            )[0][0]
            and host_db.sql("SELECT count(*) > 0 FROM eventlog_delivery")[0][0]
        ),
        timeout=120,
    )
    # Nothing of the ticket's lives in either host's var dir: no media folder.
    for host in ("a", "b"):
        assert not [f for f in _files(tmp_path / host) if f.startswith("media")], host

    _lockout_and_rate_limits_count_across_hosts(hosts)


def _lockout_and_rate_limits_count_across_hosts(hosts: dict[str, str]) -> None:
    # One test with the one above: the two hosts take minutes to start.
    def sign_in(host: str, username: str, password: str) -> httpx.Response:
        return httpx.post(
            hosts[host] + "/api/auth/token/", json={"username": username, "password": password}
        )

    # AXES_FAILURE_LIMIT=3 failures of one username from one address, across hosts.
    assert sign_in("A", "agent", "wrong").status_code == 400
    assert sign_in("A", "agent", "wrong").status_code == 400
    assert sign_in("B", "agent", "wrong").status_code in (400, 429)
    locked = sign_in("B", "agent", "correct horse battery")
    assert locked.status_code == 429, locked.text  # the right password, but locked out
    # THROTTLE_LOGIN_RATE=6/minute per address, counted in the shared cache: three tries
    # on each host make six, then both refuse. Counted per host, each would allow three
    # more.
    for host in ("A", "B"):
        assert sign_in(host, f"nobody-{host}", "x").status_code == 400
    for host in ("A", "B"):
        throttled = sign_in(host, "someone-else", "x")
        assert throttled.status_code == 429, (host, throttled.text)
        assert "Retry-After" in throttled.headers
