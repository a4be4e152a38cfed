"""Faults on real parts: the broker down, a worker killed, the mail server down, the
database's connections cut — no committed write answers 5xx, no notification is lost,
none is sent twice, and the event log verifies.

Every process is real (gunicorn, the Celery worker, beat, the outbox relay, redis-server,
aiosmtpd) on a scratch database; ``tests/faults/stack.py`` starts and breaks them.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest

from tests.email_integration.messages import mail
from tests.faults.stack import (
    REDIS_SERVER,
    Response,
    Stack,
    all_sent_once,
    desk,
    outbound_mail,
    wait_until,
)
from tests.support.processes import ScratchDatabase

pytestmark = [
    pytest.mark.subprocess,
    pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server"),
    pytest.mark.timeout(420),
]

QUICK = 1.5  # seconds; a request that waited on a dead broker took 2-3 s


def open_ticket(stack: Stack, title: str) -> Response:
    return stack.call("POST", "/api/tickets/", "requester", {"title": title})


def write_one_of_everything(stack: Stack, tag: str) -> dict[str, Response]:
    """A ticket, an agent's public comment on it, a form submission and a mail posted to
    the inbound API: each of them owes somebody a mail."""
    created = open_ticket(stack, f"Printer jammed {tag}")
    key = created.body.get("key", "NF-0")
    return {
        "ticket": created,
        "comment": stack.call(
            "POST", f"/api/tickets/{key}/comments/", "agent", {"body": f"On my way {tag}"}
        ),
        "form": stack.call(
            "POST",
            "/api/forms/outage/submit/",
            "requester",
            {"service": f"VPN {tag}", "details": "Nobody can log in."},
        ),
        "mail": stack.call(
            "POST",
            f"/api/email/inbound/{stack.account_id}/",
            "agent",
            raw=mail(sender="Carol <carol@example.com>", subject=f"Scanner offline {tag}"),
        ),
    }


def expected_mail(stack: Stack) -> list[tuple[str, str]]:
    """(ticket key, recipient) of every mail the desk owes: an acknowledgement for each
    ticket to its requester, a notification for each public agent comment."""
    rows = stack.db.sql(
        "SELECT 'NF-' || t.id, u.email FROM nixflow_ticket t "
        "JOIN nixflow_user u ON u.id = t.requester_id "
        "UNION ALL "
        "SELECT 'NF-' || t.id, u.email FROM nixflow_comment c "
        "JOIN nixflow_ticket t ON t.id = c.ticket_id JOIN nixflow_user u ON u.id = t.requester_id "
        "JOIN nixflow_user a ON a.id = c.author_id "
        "WHERE NOT c.is_internal AND a.role IN ('agent', 'admin')"
    )
    return sorted((key, email) for key, email in rows)


def delivered_exactly_once(stack: Stack) -> bool:
    """What every mail owed was written once and sent once."""
    mail_rows = outbound_mail(stack.db)
    written = sorted((key, to) for key, to, _, _ in mail_rows)
    return written == expected_mail(stack) and all_sent_once(stack)


def assert_exactly_once(stack: Stack, settle: float = 3) -> None:
    """Every owed mail reaches the mail server once, and nothing more arrives after."""
    try:
        wait_until("every mail sent exactly once", lambda: delivered_exactly_once(stack), 150)
    except AssertionError as timeout:
        raise AssertionError(f"{timeout}\n{state(stack)}") from None
    time.sleep(settle)  # a duplicate would still be on its way
    assert delivered_exactly_once(stack), (outbound_mail(stack.db), stack.smtp.message_ids())
    deliveries = stack.db.sql(
        "SELECT event_id, subscriber, count(*) FROM eventlog_delivery "
        "GROUP BY 1, 2 HAVING count(*) > 1"
    )
    assert deliveries == []


def state(stack: Stack) -> str:
    """What a failure message needs to tell a lost mail from a duplicate."""
    outbox = stack.db.sql(
        "SELECT id, task, kwargs::text, attempts, last_error, published_at IS NOT NULL "
        "FROM eventlog_outboxmessage ORDER BY id"
    )
    inbound = stack.db.sql(
        "SELECT id, status, error_reason FROM email_integration_emailmessage "
        "WHERE message_type <> 'outbound'"
    )
    logs = "\n".join(
        f"--- {path.name}\n{path.read_text()[-3000:]}" for path in stack.db.var_dir.glob("*.log")
    )
    return (
        f"owed: {expected_mail(stack)}\nwritten: {outbound_mail(stack.db)}\n"
        f"received: {stack.smtp.message_ids()}\noutbox: {outbox}\ninbound: {inbound}\n{logs}"
    )


def assert_log_verifies(stack: Stack) -> None:
    verified = stack.db.manage("verify_eventlog", "--seal")
    assert verified.returncode == 0, verified.output
    assert "Event log intact" in verified.output


def test_with_the_broker_down_writes_answer_at_once_and_every_mail_goes_out_once_it_is_back(
    scratch_db: ScratchDatabase,
) -> None:
    with desk(scratch_db) as stack:
        stack.smtp.start()
        stack.start_web()
        stack.start("relay")  # redis is not started: nothing listens on the broker's port

        responses = write_one_of_everything(stack, "A")

        for name, response in responses.items():
            assert 200 <= response.status < 300, (name, response)
            assert response.seconds < QUICK, (name, response.seconds)
        # The relay tried, kept every row, and waits for the broker.
        wait_until(
            "the relay to meet the dead broker",
            lambda: scratch_db.sql(
                "SELECT count(*) FROM eventlog_outboxmessage WHERE attempts > 0"
            )[0][0],
            timeout=20,
        )
        assert (
            scratch_db.sql(
                "SELECT count(*) FROM eventlog_outboxmessage WHERE published_at IS NULL"
            )[0][0]
            >= 4
        )  # three tickets' deliveries and the mail to read, at least
        assert stack.smtp.messages == []

        stack.redis.start()  # the broker is back, on the same port
        stack.start("worker")

        assert_exactly_once(stack)
        owed = expected_mail(stack)
        keys = {key for key, _ in owed}
        assert len(keys) == 3  # the API's, the form's and the mail's ticket
        assert (responses["ticket"].body["key"], "dave@example.com") in owed
        assert any(to == "carol@example.com" for _, to in owed)
        assert len(owed) == 4  # three acknowledgements and the comment's notification
        assert scratch_db.sql(
            "SELECT count(*) FROM eventlog_outboxmessage WHERE published_at IS NULL"
        ) == [(0,)]
    assert_log_verifies(stack)


def test_a_killed_worker_a_mail_server_outage_and_cut_database_connections_lose_nothing(
    scratch_db: ScratchDatabase,
) -> None:
    """Bounded: the mail server is down for 15 s (an outage of a minute behaves the same,
    only the send's retry comes later); the whole test takes two to four minutes."""
    with desk(
        scratch_db,
        # The safety net for a delivery whose worker died: queued again after 5 s.
        EVENTLOG_REDELIVERY_SETTLE_SECONDS="5",
        EVENTLOG_REDELIVER_INTERVAL_SECONDS="2",
        EMAIL_SEND_BACKOFF_SECONDS="5",
    ) as stack:
        stack.redis.start()
        stack.smtp.start()
        stack.start_web()
        stack.start("relay")
        stack.start("beat")

        kill_a_worker_mid_delivery(stack)
        stack.start("worker")
        assert_exactly_once(stack)

        mail_server_down_for(stack, seconds=15)
        assert_exactly_once(stack)

        statuses = cut_database_connections_during_writes(stack)
        committed_5xx = [
            (title, status)
            for title, status in statuses
            if status >= 500
            and stack.db.sql("SELECT 1 FROM nixflow_ticket WHERE title = %s", [title])
        ]
        assert committed_5xx == []
        assert sum(200 <= status < 300 for _, status in statuses) >= len(statuses) // 2
        assert_exactly_once(stack)
    assert_log_verifies(stack)


def kill_a_worker_mid_delivery(stack: Stack) -> None:
    """Hold the acknowledgement's delivery row locked, so the worker blocks inside the
    delivery's transaction; SIGKILL it there. Its message stays unacknowledged in redis
    (redelivered only after the visibility timeout, an hour), so it is the redelivery
    safety net (beat) that queues the delivery again through the outbox."""
    created = open_ticket(stack, "Killed mid-delivery")
    assert created.status == 201, created
    (event_id,) = stack.db.sql(
        "SELECT id FROM eventlog_eventlog WHERE type = 'ticket.created' AND ticket_key = %s",
        [created.body["key"]],
    )[0]
    with psycopg.connect(stack.db.url_params()) as blocker:
        blocker.execute(
            "INSERT INTO eventlog_delivery (event_id, subscriber, delivered_at) "
            "VALUES (%s, 'email.acknowledge_ticket', now())",
            [event_id],
        )
        worker = stack.start("worker")
        wait_until(
            "the worker to block in the delivery",
            lambda: stack.db.sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query ILIKE '%%eventlog_delivery%%'"
            )[0][0],
            timeout=60,
        )
        stack.kill("worker")
        assert worker.returncode is not None
        blocker.rollback()
    assert stack.db.sql(
        "SELECT count(*) FROM eventlog_delivery WHERE event_id = %s", [event_id]
    ) == [(0,)]


def mail_server_down_for(stack: Stack, seconds: float) -> None:
    stack.smtp.stop()
    before = len(stack.smtp.messages)
    for response in write_one_of_everything(stack, "during the SMTP outage").values():
        assert 200 <= response.status < 300, response
    wait_until(
        "a failed send attempt",
        lambda: stack.db.sql(
            "SELECT count(*) FROM email_integration_emailmessage "
            "WHERE message_type = 'outbound' AND error_reason <> ''"
        )[0][0],
        timeout=60,
    )
    time.sleep(seconds)
    assert len(stack.smtp.messages) == before
    stack.smtp.start()


def cut_database_connections_during_writes(stack: Stack) -> list[tuple[str, int]]:
    """Open tickets from a thread while every connection to the database is terminated
    twice (web, worker, beat, relay); the (title, status) of each request."""
    statuses: list[tuple[str, int]] = []

    def writer() -> None:
        for n in range(12):
            title = f"During the cut {n}"
            try:
                statuses.append((title, open_ticket(stack, title).status))
            except OSError:
                statuses.append((title, 599))  # the connection itself failed
            time.sleep(0.2)

    thread = threading.Thread(target=writer)
    thread.start()
    for _ in range(2):
        time.sleep(0.7)
        # Cut what is connected; after the first cut the processes reconnect as their
        # next work needs the database (a retrying request may take a moment).
        deadline = time.monotonic() + 20
        while not (terminated := terminate_connections(stack)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert terminated  # the processes were connected
    thread.join(120)
    return statuses


def terminate_connections(stack: Stack) -> list[Any]:
    return stack.db.sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
