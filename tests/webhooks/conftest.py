"""A real HTTP receiver on loopback, and endpoints that point at it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.db import transaction
from pytest_django.fixtures import Settings

from eventlog.models import EventLog
from eventlog.services import event_record
from nixflow.models import User
from tests.factories import AdminFactory
from webhooks import receivers, services
from webhooks.models import Endpoint


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


# A reply: (status, extra headers, body); or None to hang up after a delay (see slow).
Reply = tuple[int, dict[str, str], bytes]


@dataclass
class Receiver:
    """Records every request; answers with ``reply(request number)`` (default 204)."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    reply: Callable[[int], Reply] = lambda n: (204, {}, b"")
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_first(self, count: int, status: int = 503) -> None:
        self.reply = lambda n: (status, {}, b"down") if n < count else (204, {}, b"")

    @property
    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.received]


def start_receiver(receiver: Receiver) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            with receiver.lock:
                number = len(receiver.received)
                receiver.received.append(
                    Received({k.lower(): v for k, v in self.headers.items()}, body)
                )
            if receiver.delay:
                time.sleep(receiver.delay)
            status, headers, reply = receiver.reply(number)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    return server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    server = start_receiver(found)
    yield found
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _loopback_allowed(settings: Settings) -> Iterator[None]:
    """The receivers live on loopback; tests of the refusal turn this off."""
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOKS_RETRY_SECONDS = [0, 0, 0, 0, 0]
    settings.WEBHOOKS_TIMEOUT_SECONDS = 2.0
    receivers.forget_endpoints()
    yield
    receivers.forget_endpoints()


@pytest.fixture
def admin(db: None) -> User:
    return AdminFactory.create(username="boss")


@pytest.fixture
def make_endpoint(admin: User) -> Callable[..., tuple[Endpoint, str]]:
    def make(url: str, **data: Any) -> tuple[Endpoint, str]:
        return services.endpoint_create(
            actor=admin, data={"name": "CRM", "url": url, "event_types": ["*"], **data}
        )

    return make


def record(type: str, subject: Any, ticket_key: str = "", **payload: Any) -> EventLog:
    with transaction.atomic():
        return event_record(
            type=type, subject=subject, actor=None, ticket_key=ticket_key, payload=payload
        )
