"""/readyz knows the storage of uploaded files: a bucket that is missing, refuses our
credentials, cannot be reached or does not answer in time makes it 503 naming the
bucket and its endpoint (never the secret), and so does a media directory on disk that
cannot be written; the verdict is cached like the schema guard's."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from moto.server import ThreadedMotoServer
from pytest_django.fixtures import Settings

from nixflow.platform import schema_guard, storage
from tests.support.s3 import ACCESS_KEY, SECRET_KEY, Bucket, S3Server, use_storage_url

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_verdicts() -> Iterator[None]:
    storage._verdicts.clear()
    schema_guard._readiness_cache.clear()
    yield
    storage._verdicts.clear()
    schema_guard._readiness_cache.clear()


def readyz(client: Client) -> tuple[int, dict[str, Any]]:
    response = client.get("/readyz")
    return response.status_code, response.json()


def the_problem(client: Client) -> dict[str, str]:
    status, body = readyz(client)
    assert status == 503, body
    assert body["status"] == "unavailable"
    (problem,) = body["problems"]
    assert problem["kind"] == "storage_unavailable"
    assert problem["severity"] == "error"
    return problem


def assert_no_secret(problem: dict[str, str]) -> None:
    text = str(problem)
    for secret in (SECRET_KEY, SECRET_KEY.replace("/", "%2F").replace("+", "%2B"), ACCESS_KEY):
        assert secret not in text


def s3_url_to(host: str, port: int, bucket: str = "nixflow-readiness") -> str:
    """A STORAGE_URL for a server that is not moto (the same credentials)."""
    return S3Server(endpoint=f"http://{host}:{port}", host=host, port=port).storage_url(bucket)


# --- a bucket ---------------------------------------------------------------------------
def test_a_reachable_bucket_is_ready(object_storage: Bucket, client: Client) -> None:
    assert readyz(client) == (200, {"status": "ready"})


def test_a_missing_bucket_is_503_naming_bucket_and_endpoint_but_no_secret(
    s3_server: S3Server, settings: Settings, client: Client
) -> None:
    use_storage_url(settings, s3_server.storage_url("nixflow-never-created"))

    problem = the_problem(client)

    assert problem["check_id"] == "nixflow.storage.E001"
    assert problem["message"] == (
        f"Object storage bucket 'nixflow-never-created' at {s3_server.endpoint} does not exist."
    )
    assert "s3:ListBucket" in problem["fix"]
    assert_no_secret(problem)


def test_a_stopped_server_is_503_and_ready_again_once_it_answers(
    settings: Settings, client: Client
) -> None:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    own = S3Server(endpoint=f"http://{host}:{port}", host=host, port=port)
    bucket = own.create_bucket()
    use_storage_url(settings, own.storage_url(bucket))
    assert readyz(client) == (200, {"status": "ready"})

    server.stop()
    problem = the_problem(client)

    assert problem["message"] == (
        f"Object storage bucket '{bucket}' at http://{host}:{port} cannot be reached."
    )
    assert_no_secret(problem)


def test_a_server_that_does_not_answer_is_503_after_the_probe_timeout(
    settings: Settings, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage, "PROBE_TIMEOUT_SECONDS", 0.3)
    with socket.socket() as silent:  # takes connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        use_storage_url(settings, s3_url_to("127.0.0.1", port))

        problem = the_problem(client)
        attempts = _pending_connections(silent)

    assert problem["message"] == (
        f"Object storage bucket 'nixflow-readiness' at http://127.0.0.1:{port} "
        "did not answer within 0.3 s."
    )
    assert attempts == 1  # one attempt, not boto3's retries


def _pending_connections(listening: socket.socket) -> int:
    """How many connections wait in the backlog of a socket that never accepted any."""
    listening.setblocking(False)
    count = 0
    while True:
        try:
            connection, _ = listening.accept()
        except BlockingIOError:
            return count
        connection.close()
        count += 1


class _Refusing(BaseHTTPRequestHandler):
    """An S3 endpoint that refuses every request as S3 refuses a wrong key."""

    def do_HEAD(self) -> None:
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_refused_credentials_are_503(settings: Settings, client: Client) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        use_storage_url(settings, s3_url_to("127.0.0.1", port))

        problem = the_problem(client)
    finally:
        server.shutdown()
        server.server_close()

    assert problem["message"] == (
        f"Object storage bucket 'nixflow-readiness' at http://127.0.0.1:{port} "
        "refused access (403)."
    )
    assert_no_secret(problem)


def test_the_bucket_verdict_is_cached_for_the_readyz_seconds(
    object_storage: Bucket, settings: Settings, client: Client
) -> None:
    settings.NIXFLOW_READYZ_CACHE_SECONDS = 60
    assert readyz(client)[0] == 200

    object_storage.server.client().delete_bucket(Bucket=object_storage.name)
    assert readyz(client) == (200, {"status": "ready"})  # remembered: no new request

    storage._verdicts.clear()  # as when the 60 seconds are over
    assert the_problem(client)["message"].endswith("does not exist.")


def test_without_a_cache_every_probe_asks_the_bucket(
    object_storage: Bucket, client: Client
) -> None:
    assert readyz(client)[0] == 200  # conftest: NIXFLOW_READYZ_CACHE_SECONDS = 0

    object_storage.server.client().delete_bucket(Bucket=object_storage.name)

    assert the_problem(client)["message"].endswith("does not exist.")


def test_storage_and_schema_problems_are_reported_together(
    s3_server: S3Server, settings: Settings, client: Client
) -> None:
    from django.db import connection

    use_storage_url(settings, s3_server.storage_url("nixflow-never-created"))
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE app = 'sessions'")

    status, body = readyz(client)

    assert status == 503
    assert [p["check_id"] for p in body["problems"]] == ["nixflow.E001", "nixflow.storage.E001"]


# --- the local disk ---------------------------------------------------------------------
def test_a_writable_media_directory_is_ready(
    settings: Settings, tmp_path: Path, client: Client
) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")  # created by the first upload

    assert readyz(client) == (200, {"status": "ready"})


def test_a_media_directory_that_cannot_be_created_is_503(
    settings: Settings, tmp_path: Path, client: Client
) -> None:
    (tmp_path / "volume").write_text("a file where the mount should be")
    settings.MEDIA_ROOT = str(tmp_path / "volume" / "media")

    problem = the_problem(client)

    assert problem["check_id"] == "nixflow.storage.E002"
    assert problem["message"] == (
        f"The media directory {tmp_path}/volume/media cannot be created: "
        f"{tmp_path}/volume is not a directory."
    )
    assert "MEDIA_ROOT" in problem["fix"]


def test_a_read_only_media_directory_is_503(
    settings: Settings, tmp_path: Path, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    settings.MEDIA_ROOT = str(media)
    real_access = storage.os.access
    # As a read-only mount or another owner answers access(2) (root may write anywhere,
    # so the test cannot chmod its way there).
    monkeypatch.setattr(
        storage.os,
        "access",
        lambda path, mode: False if Path(path) == media else real_access(path, mode),
    )

    problem = the_problem(client)

    assert problem["message"] == (
        f"The media directory {media} is not writable by this process ({media})."
    )
