"""The whole stack on real parts, driven through one story.

Web under gunicorn, a Celery worker and beat on Redis (kombu's filesystem broker where a
machine has no Redis), a private Dovecot for IMAP and aiosmtpd for SMTP, all on
loopback, on a scratch database:

a mail arrives on the IMAP server -> beat's poll opens a ticket with its SLA clocks ->
beat's scan breaches it -> the breach mail reaches the SMTP server -> an agent
acknowledges the breach through the API -> a form submission opens another ticket -> an
article is suggested for it -> the event log holds every step and verifies clean.
"""

from __future__ import annotations

import http.client
import json
import socket
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.email_integration.messages import mail
from tests.email_integration.servers import PASSWORD, SMTPServer, start_dovecot, start_smtp
from tests.support.processes import (
    RELAY_READY,
    ScratchDatabase,
    celery_beat_cmd,
    celery_worker_cmd,
    relay_cmd,
    run,
    running,
    web_server,
)

pytestmark = pytest.mark.subprocess

SETUP = """
from datetime import time
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from rest_framework.authtoken.models import Token
from email_integration.models import EmailAccount
from forms_builder.models import CustomForm, FormField, FormFieldType, FormStatus
from forms_builder import services as forms
from knowledge import services as kb
from nixflow.models import Priority, Role
from nixflow.services import user_create
from sla.models import SLAPolicy, SLATarget
from tests.factories import default_workflow

default_workflow()
agent = user_create(username="agent", email="agent@desk.test", role=Role.AGENT)
print("AGENT", Token.objects.create(user=agent).key)
requester = user_create(username="dave", email="dave@example.com", role=Role.REQUESTER)
print("REQUESTER", Token.objects.create(user=requester).key)
EmailAccount.objects.create(
    name="Help", address="help@desk.test", protocol="IMAP", host="127.0.0.1",
    port={imap_port}, use_tls=False, username="{mail_user}", password="{password}",
    poll_interval_seconds=1,
)
# One minute to answer anything: the shortest target there is.
policy = SLAPolicy.objects.create(name="Fast", escalation_email="oncall@desk.test")
for priority in Priority.values:
    SLATarget.objects.create(
        policy=policy, priority=priority, metric_type="first_response", minutes=1
    )
# Beat's entries (created by migrations) every second instead of every minute.
every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period="seconds")
PeriodicTask.objects.filter(name__in=["SLA monitor", "Mail polling"]).update(interval=every_second)
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
article = kb.article_create(
    title="VPN gateway outage: what to do", author=agent,
    summary="When the VPN gateway is down, use the backup gateway.",
    body="If the **VPN gateway** is down, connect to vpn-backup.desk.test instead.",
)
kb.article_transition(article=article, to_status="IN_REVIEW", actor=agent)
kb.article_transition(article=article, to_status="PUBLISHED", actor=agent)
print("ARTICLE", article.pk)
"""


def redis_url() -> str | None:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(16).startswith(b"+PONG"):
                return f"redis://127.0.0.1:6379/{uuid.uuid4().int % 15 + 1}"
    except OSError:
        return None
    return None


def wait_for(what: str, probe: object, timeout: float = 120) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    server = start_smtp()
    yield server
    server.controller.stop()


def call(base: str, method: str, path: str, token: str, body: object = None) -> tuple[int, dict]:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
    payload = None
    if body is not None:
        payload = json.dumps(body)
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=payload, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, (json.loads(data) if data else {})


def test_a_mail_becomes_a_ticket_breaches_is_acknowledged_and_the_log_verifies(
    scratch_db: ScratchDatabase, smtp: SMTPServer
) -> None:
    dovecot = start_dovecot()
    try:
        _story(scratch_db, smtp, dovecot)
    finally:
        dovecot.stop()


def _story(db: ScratchDatabase, smtp: SMTPServer, dovecot: object) -> None:
    mail_user = dovecot.new_user()
    broker = redis_url()
    env = db.env(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST=smtp.host,
        EMAIL_PORT=str(smtp.port),
        EMAIL_USE_TLS="false",
        EVENTLOG_SEAL_INTERVAL_SECONDS="1",
        **({"CELERY_BROKER_URL": broker} if broker else {}),
    )
    setup = run(
        [sys.executable, "manage.py", "shell", "-c",
         SETUP.format(imap_port=dovecot.imap_port, mail_user=mail_user, password=PASSWORD)],
        env,
    )  # fmt: skip
    assert setup.returncode == 0, setup.output
    tokens = dict(line.split()[:2] for line in setup.output.splitlines() if line[:1].isupper())
    agent, requester = tokens["AGENT"], tokens["REQUESTER"]

    with (
        running(celery_worker_cmd(), env, " ready."),
        running(celery_beat_cmd(db.var_dir), env, "beat: Ticking with max interval"),
        running(relay_cmd(), env, RELAY_READY),
        web_server(db) as base,
    ):
        # 1. A mail arrives on the IMAP server; beat's poll opens a ticket with clocks.
        dovecot.deliver(
            mail_user, mail(sender="Carol <carol@example.com>", subject="VPN is down for us")
        )
        (ticket_id,) = wait_for(
            "the mailed ticket",
            lambda: db.sql("SELECT id FROM nixflow_ticket WHERE source = 'EMAIL'"),
        )[0]
        key = f"NF-{ticket_id}"
        assert db.sql(
            "SELECT metric_type, status FROM sla_slametric WHERE ticket_id = %s "
            "AND metric_type = 'first_response'",
            [ticket_id],
        )

        # 2. Nobody answers within a minute: beat's scan breaches the clock, and the
        # breach mail reaches the SMTP server (after the acknowledgement of the ticket).
        wait_for(
            "the breach mail",
            lambda: any("SLA breached" in m["Subject"] for _, _, m in smtp.messages),
            timeout=150,
        )
        breach_mail = next(m for _, _, m in smtp.messages if "SLA breached" in m["Subject"])
        assert key in breach_mail["Subject"]
        assert "oncall@desk.test" in str(breach_mail["To"])
        acknowledgement = [m for _, _, m in smtp.messages if m["Subject"].startswith(f"[{key}]")]
        assert acknowledgement
        assert acknowledgement[0]["Auto-Submitted"] == "auto-replied"

        # 3. An agent acknowledges the breach through the API.
        status, breaches = call(base, "GET", f"/api/sla/breaches/?ticket={key}", agent)
        assert status == 200, breaches
        breach_id = breaches["results"][0]["id"]
        status, body = call(
            base, "POST", f"/api/sla/breaches/{breach_id}/acknowledge/", agent,
            {"note": "VPN vendor incident; customer called."},
        )  # fmt: skip
        assert status == 200, body
        status, again = call(
            base, "POST", f"/api/sla/breaches/{breach_id}/acknowledge/", agent, {"note": "x"}
        )
        assert status == 409, again  # already acknowledged: a conflict

        # 4. A form submission opens another ticket.
        status, submitted = call(
            base, "POST", "/api/forms/outage/submit/", requester,
            {"service": "VPN gateway", "details": "The VPN gateway refuses every login."},
        )  # fmt: skip
        assert status == 201, submitted
        form_ticket = submitted["ticket"]
        assert form_ticket
        assert form_ticket != key

        # 5. An article is suggested for it.
        status, suggestions = call(
            base, "GET", f"/api/knowledge/suggestions/?ticket={form_ticket}", requester
        )
        assert status == 200, suggestions
        titles = [a["title"] for a in suggestions["results"]]
        assert "VPN gateway outage: what to do" in titles

        # 6. The event log holds every step, sealed by beat, and verifies clean.
        status, events = call(base, "GET", f"/api/events/?ticket={key}&page_size=200", agent)
        types = {e["type"] for e in events["results"]}
        assert {"ticket.created", "email.received", "sla.breached", "sla.acknowledged"} <= types
        status, events = call(base, "GET", f"/api/events/?ticket={form_ticket}", agent)
        assert {"ticket.created"} <= {e["type"] for e in events["results"]}
        assert db.sql("SELECT count(*) FROM eventlog_eventlog WHERE type LIKE 'form.%%'")[0][0]
        wait_for(
            "the seal",
            lambda: db.sql(
                "SELECT (SELECT max(last_event_id) FROM eventlog_seal) "
                ">= (SELECT max(id) FROM eventlog_eventlog WHERE type = 'sla.acknowledged')"
            )[0][0],
        )

    verified = db.manage("verify_eventlog", "--seal")
    assert verified.returncode == 0, verified.output
    assert "Event log intact" in verified.output
