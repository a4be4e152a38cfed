"""The mail tally (MailDayTally, kept by triggers of migration reports 0012) always
equals counting the messages by desk day, account, type and state, as the intake moves
them from state to state; and Mail health read from it equals the report counted from
the messages."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from email_integration.models import EmailMessage
from email_integration.models import EmailMessageStatus as S
from email_integration.models import EmailMessageType as T
from reports.figures import Report
from reports.models import MailDayTally, TallyZone
from reports.selectors import report_build
from reports.services import tally_compact, tally_rebuild
from tests.email_integration.factories import EmailAccountFactory, EmailMessageFactory
from tests.reports.support import AUTUMN, BERLIN, SPRING, at, report_filters

pytestmark = pytest.mark.django_db


def tallied() -> Counter:
    counts: Counter = Counter()
    for row in MailDayTally.objects.all():
        counts[(row.day, row.account_id, row.message_type, row.status)] += row.messages
    return +counts


def counted() -> Counter:
    return Counter(
        (m.received_at.astimezone(BERLIN).date(), m.account_id, m.message_type, m.status)
        for m in EmailMessage.objects.all()
    )


def mail() -> tuple[Any, Any]:
    support, billing = EmailAccountFactory(name="support"), EmailAccountFactory(name="billing")
    for day in (SPRING, AUTUMN):
        for account, kind, status, hour in [
            (support, T.INBOUND, S.PROCESSED, 0),
            (support, T.AUTO_REPLY, S.IGNORED, 1),
            (support, T.BOUNCE, S.IGNORED, 2),
            (billing, T.INBOUND, S.RECEIVED, 3),
            (billing, T.INBOUND, S.FAILED, 23),
            (billing, T.OUTBOUND, S.SENT, 12),
        ]:
            EmailMessageFactory(
                account=account, message_type=kind, status=status, received_at=at(day, hour, 30)
            )
    return support, billing


def test_mail_tally_equals_the_messages_as_their_states_change(berlin: object) -> None:
    support, billing = mail()
    assert tallied() == counted()
    # The intake processes what waited, a failed one is reprocessed, one is moved.
    EmailMessage.objects.filter(status=S.RECEIVED).update(status=S.PROCESSED)
    failed = EmailMessage.objects.filter(status=S.FAILED).first()
    assert failed is not None
    failed.status = S.PROCESSED
    failed.save()
    EmailMessage.objects.filter(account=support, message_type=T.BOUNCE).update(
        received_at=at(AUTUMN + timedelta(days=1), 0, 30), account=billing
    )
    EmailMessage.objects.filter(status=S.PROCESSED).update(subject="seen")  # not counted
    assert tallied() == counted()
    EmailMessage.objects.filter(received_at__lt=at(AUTUMN, 0)).delete()
    assert tallied() == counted()
    before, rows = tallied(), MailDayTally.objects.count()
    assert tally_compact().folded > 0
    assert MailDayTally.objects.count() < rows
    assert tallied() == before
    tally_rebuild(zone=BERLIN)
    assert tallied() == before


def _content(report: Report) -> tuple[Any, ...]:
    return (
        [(f.key, f.value) for f in report.figures],
        [(s.key, s.values) for s in report.chart.series],
        [(t.key, t.rows) for t in report.tables],
    )


def test_mail_health_from_the_tally_equals_the_report_from_the_messages(berlin: object) -> None:
    mail()
    EmailMessage.objects.filter(status=S.RECEIVED).update(status=S.SUSPENDED)
    for params in (
        {"from": "2026-03-01", "to": "2026-11-30", "interval": "week"},
        {"from": "2026-03-29", "to": "2026-03-29"},
        {"from": "2026-10-24", "to": "2026-10-26"},
    ):
        from_tally = report_build(name="mail", filters=report_filters(**params))
        TallyZone.objects.update(time_zone="UTC")  # the tally no longer answers
        from_rows = report_build(name="mail", filters=report_filters(**params))
        TallyZone.objects.update(time_zone="Europe/Berlin")
        assert _content(from_tally) == _content(from_rows), params
    whole = report_build(
        name="mail", filters=report_filters(**{"from": "2026-03-01", "to": "2026-11-30"})
    )
    figures = {f.key: f.value for f in whole.figures}
    assert (figures["received"], figures["bounces"], figures["suspended"]) == (10, 2, 2)
