"""The whole desk as real processes on loopback, for fault tests that break its parts.

A scratch database (``scratch_db``), a private ``redis-server`` on a free port that a test
can stop and start again (the broker), aiosmtpd on a fixed port that a test can stop and
start again (the mail server), and gunicorn, the Celery worker, beat and the outbox
relay (``manage.py relay_outbox``) as subprocesses that a test can start and SIGKILL.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import subprocess
import sys
import time
import urllib.error
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from tests.email_integration.servers import CapturingHandler
from tests.support.processes import (
    RELAY_READY,
    ScratchDatabase,
    celery_beat_cmd,
    celery_worker_cmd,
    free_port,
    get_json,
    gunicorn_cmd,
    relay_cmd,
    run,
    running,
)

REDIS_SERVER = shutil.which("redis-server")

# Run in the scratch database by a subprocess, like the end-to-end story's SETUP: the
# first lines (agent, requester, tokens) are the same, the rest is this scenario's own
# desk (a posted-mail account and an anonymous form instead of IMAP, SLA and articles).
SETUP = """
from rest_framework.authtoken.models import Token
from email_integration.models import EmailAccount
from forms_builder import services as forms
from forms_builder.models import CustomForm, FormField, FormFieldType, FormStatus
from nixflow.models import Role
from nixflow.services import user_create
from tests.factories import default_workflow

default_workflow()
agent = user_create(username="agent", email="agent@desk.test", role=Role.AGENT)
print("AGENT", Token.objects.create(user=agent).key)
requester = user_create(username="dave", email="dave@example.com", role=Role.REQUESTER)
print("REQUESTER", Token.objects.create(user=requester).key)
account = EmailAccount.objects.create(name="Help", address="help@desk.test", protocol="NONE")
print("ACCOUNT", account.pk)
form = CustomForm(name="Report an outage", slug="outage", title_template="Outage: {{service}}",
                  description_field="details", login_required=False)
fields = [
    FormField(key="service", label="What is down?", field_type=FormFieldType.TEXT,
              required=True, order=1),
    FormField(key="details", label="What happened?", field_type=FormFieldType.TEXTAREA,
              required=True, order=2),
]
forms.form_save(form=form, changed_fields=fields, actor=None)
forms.form_set_status(form=form, status=FormStatus.PUBLISHED, actor=None)
"""

WORKER_READY = " ready."
BEAT_READY = "beat: Starting"


class Redis:
    """A private redis-server, in memory only, that can be stopped and started again."""

    def __init__(self, port: int, directory: Path) -> None:
        self.port, self.directory = port, directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS_SERVER, "redis-server is not installed"
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until("redis answers", lambda: _redis_ping(self.port), timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


def _redis_ping(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class SMTP:
    """aiosmtpd on a fixed port; stopping it refuses connections until it starts again.
    The messages it received survive the restart."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.handler = CapturingHandler()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, server_hostname="localhost"
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[Any]:
        return list(self.handler.messages)

    def message_ids(self) -> list[str]:
        return [str(message["Message-ID"]).strip() for _, _, message in self.messages]


@dataclass
class Stack:
    db: ScratchDatabase
    redis: Redis
    smtp: SMTP
    env: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)
    account_id: int = 0
    base: str = ""
    processes: dict[str, subprocess.Popen[str]] = field(default_factory=dict)
    exits: ExitStack = field(default_factory=ExitStack)

    def setup(self) -> None:
        done = run([sys.executable, "manage.py", "shell", "-c", SETUP], self.env)
        assert done.returncode == 0, done.output
        values = dict(line.split()[:2] for line in done.output.splitlines() if line[:1].isupper())
        self.tokens = {"agent": values["AGENT"], "requester": values["REQUESTER"]}
        self.account_id = int(values["ACCOUNT"])

    def start(self, name: str) -> subprocess.Popen[str]:
        command, marker = {
            "worker": (celery_worker_cmd(), WORKER_READY),
            "beat": (celery_beat_cmd(self.db.var_dir), BEAT_READY),
            "relay": (relay_cmd(), RELAY_READY),
        }[name]
        context = running(command, self.env, marker)
        self.processes[name] = self.exits.enter_context(context)
        return self.processes[name]

    def start_web(self) -> None:
        port = free_port()
        self.exits.enter_context(running(gunicorn_cmd(port), self.env, "Booting worker"))
        self.base = f"http://127.0.0.1:{port}"
        wait_until("web answers", self._web_answers, timeout=30)

    def _web_answers(self) -> bool:
        try:
            return get_json(self.base + "/healthz")[0] == 200
        except (urllib.error.URLError, ConnectionError):
            return False

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown, no ack, no cleanup, as when the machine loses power."""
        process = self.processes.pop(name)
        process.kill()
        process.wait(10)

    def call(
        self, method: str, path: str, who: str, body: object = None, *, raw: bytes | None = None
    ) -> Response:
        return api_call(self.base, self.tokens[who], method, path, body, raw=raw)


@dataclass(frozen=True)
class Response:
    status: int
    body: Any
    seconds: float


def api_call(
    base: str, token: str, method: str, path: str, body: object = None, *, raw: bytes | None = None
) -> Response:
    """One API request with ``token``: JSON ``body``, or ``raw`` mail (message/rfc822)."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
    payload: bytes | None = None
    if raw is not None:
        payload, headers["Content-Type"] = raw, "message/rfc822"
    elif body is not None:
        payload, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    started = time.monotonic()
    conn.request(method, path, body=payload, headers=headers)
    response = conn.getresponse()
    data = response.read()
    elapsed = time.monotonic() - started
    conn.close()
    try:
        parsed = json.loads(data) if data else {}
    except ValueError:
        parsed = {"raw": data[:500].decode(errors="replace")}
    return Response(response.status, parsed, elapsed)


@contextlib.contextmanager
def desk(db: ScratchDatabase, **settings: str) -> Iterator[Stack]:
    """A set-up desk on ``db``: broker and mail server started, no process yet."""
    redis = Redis(free_port(), db.var_dir)
    smtp = SMTP(free_port())
    env = db.env(
        CELERY_BROKER_URL=redis.url,
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp.port),
        EMAIL_USE_TLS="false",
        EMAIL_TIMEOUT="5",
        EVENTLOG_OUTBOX_MAX_BACKOFF_SECONDS="2",
        EVENTLOG_OUTBOX_POLL_SECONDS="1",
        **settings,
    )
    stack = Stack(db, redis, smtp, env)
    try:
        stack.setup()
        yield stack
    finally:
        stack.exits.close()
        smtp.stop()
        redis.stop()


def wait_until(what: str, probe: Callable[[], object], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.3)


def outbound_mail(db: ScratchDatabase) -> list[tuple[str, str, str, str]]:
    """Every outbound message the desk wrote: (ticket key, recipient, Message-ID, status)."""
    rows = db.sql(
        "SELECT 'NF-' || ticket_id, to_addresses[1], message_id, status "
        "FROM email_integration_emailmessage WHERE message_type = 'outbound' ORDER BY id"
    )
    return [(key, to, f"<{message_id}>", status) for key, to, message_id, status in rows]


def all_sent_once(stack: Stack) -> bool:
    """Every outbound message is marked sent, and the mail server got it exactly once."""
    mail = outbound_mail(stack.db)
    received = stack.smtp.message_ids()
    return bool(mail) and all(
        status == "sent" and received.count(message_id) == 1 for _, _, message_id, status in mail
    )
