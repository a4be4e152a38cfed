"""Self-service and mail health: every figure equals counting the help center's and
the mail intake's rows per desk day."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import pytest
import time_machine

from email_integration.models import EmailMessageStatus as S
from email_integration.models import EmailMessageType as T
from nixflow.models import User
from portal.models import DeflectionAttempt
from reports.selectors import report_build
from tests.email_integration.factories import EmailAccountFactory, EmailMessageFactory
from tests.factories import RequesterFactory, TicketFactory
from tests.knowledge.factories import ArticleFactory, SearchHistoryFactory, ViewFactory
from tests.reports.support import AUTUMN, SPRING, at, report_filters

pytestmark = pytest.mark.django_db


def figures(report: Any) -> dict[str, Any]:
    return {f.key: f.value for f in report.figures}


@time_machine.travel(at(SPRING + timedelta(days=10), 12), tick=False)
def test_selfservice_counts_searches_views_and_deflections(berlin: object) -> None:
    day = SPRING
    printer = ArticleFactory(title="Printer jams")
    vpn = ArticleFactory(title="VPN on a phone")
    # Searches: 23:30 on the 28th is still the 28th in Berlin (22:30 UTC).
    for when, query, found in [
        (at(day - timedelta(days=1), 23, 30), "printer", 2),
        (at(day, 0, 30), "printer", 2),
        (at(day, 1, 59), "toner", 0),
        (at(day, 3, 0), "toner", 0),
        (at(day, 23, 0), "fax", 0),
    ]:
        SearchHistoryFactory(query=query, results_count=found, created=when)
    for when, article in [
        (at(day, 0, 10), printer),
        (at(day, 12), printer),
        (at(day, 13), vpn),
        (at(day + timedelta(days=1), 0, 0), printer),
    ]:
        ViewFactory(article=article, viewed_at=when)
    alice, bob = cast(User, RequesterFactory()), cast(User, RequesterFactory())
    # Alice opened a suggestion and filed nothing: deflected. Bob filed a ticket soon after.
    DeflectionAttempt.objects.create(
        requester=alice, subject="Printer", created=at(day, 9), first_opened_at=at(day, 9, 1)
    )
    DeflectionAttempt.objects.create(
        requester=bob, subject="VPN", created=at(day, 9), first_opened_at=at(day, 9, 1)
    )
    TicketFactory(requester=bob, created=at(day, 9, 5))
    report = report_build(
        name="selfservice", filters=report_filters(**{"from": "2026-03-29", "to": "2026-03-29"})
    )
    assert figures(report) == {
        "searches": 4,
        "no_result": 3,
        "no_result_rate": 75.0,
        "views": 3,
        "attempts": 2,
        "deflected": 1,
    }
    assert report.table("top_articles").rows == [
        {"article": "Printer jams", "views": 2},
        {"article": "VPN on a phone", "views": 1},
    ]
    assert report.table("failed_queries").rows == [
        {"query": "toner", "searches": 2},
        {"query": "fax", "searches": 1},
    ]
    assert not report.ticket_filters
    two_days = report_build(
        name="selfservice", filters=report_filters(**{"from": "2026-03-28", "to": "2026-03-30"})
    )
    assert [row["searches"] for row in two_days.table("per_day").rows] == [1, 4, 0]
    assert [row["views"] for row in two_days.table("per_day").rows] == [0, 3, 1]


def test_mail_health_by_account_and_day(berlin: object) -> None:
    support = EmailAccountFactory(name="support", address="support@example.com")
    billing = EmailAccountFactory(name="billing", address="billing@example.com")
    for account, kind, status, when in [
        (support, T.INBOUND, S.PROCESSED, at(AUTUMN, 0, 30)),
        (support, T.INBOUND, S.PROCESSED, at(AUTUMN, 2, 30)),
        (support, T.AUTO_REPLY, S.IGNORED, at(AUTUMN, 2, 45)),
        (support, T.BOUNCE, S.IGNORED, at(AUTUMN, 3, 0)),
        (support, T.INBOUND, S.SUSPENDED, at(AUTUMN, 4, 0)),
        (billing, T.INBOUND, S.FAILED, at(AUTUMN, 23, 59)),
        (billing, T.INBOUND, S.RECEIVED, at(AUTUMN, 12)),
        (billing, T.INBOUND, S.REJECTED, at(AUTUMN, 13)),
        (billing, T.INBOUND, S.PROCESSED, at(AUTUMN + timedelta(days=1), 0, 0)),  # next day
        (billing, T.OUTBOUND, S.SENT, at(AUTUMN, 12)),  # the desk's own: not counted
    ]:
        EmailMessageFactory(account=account, message_type=kind, status=status, received_at=when)
    report = report_build(
        name="mail", filters=report_filters(**{"from": "2026-10-25", "to": "2026-10-25"})
    )
    assert figures(report) == {
        "received": 8,
        "processed": 2,
        "loops": 1,
        "bounces": 1,
        "suspended": 1,
        "rejected": 1,
        "failed": 1,
        "waiting": 1,
    }
    accounts = {row["account"]: row for row in report.table("by_account").rows}
    assert accounts["support"] == {
        "account": "support",
        "received": 5,
        "processed": 2,
        "loops": 1,
        "bounces": 1,
        "suspended": 1,
        "rejected": 0,
        "failed": 0,
        "waiting": 0,
    }
    assert accounts["billing"]["received"] == 3
    assert report.table("per_day").rows[0]["received"] == 8
