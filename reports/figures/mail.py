"""Mail health: what became of the mail the desk received, by account.

Every message that came in (all but the desk's own outbound mail), by the time it was
received, counted by its state now:

- processed: became a ticket or a comment;
- ignored as loops: auto-replies, list mail, rate-limited or duplicate mail;
- bounces: delivery reports (ignored, or matched to the message that bounced);
- suspended: held for staff review (sender not authenticated); rejected: refused by staff;
- failed: processing raised (can be reprocessed);
- waiting: stored, not processed yet.

The ticket filters do not apply (a message may have become no ticket). Summed from
``MailDayTally`` (kept by triggers) when its days are cut in the report's zone, else
counted from the messages; both give the same figures
(tests/reports/test_mail_tally.py).
"""

from __future__ import annotations

import datetime
from typing import Any

from django.apps import apps
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils.translation import gettext_lazy as _

from reports.figures import Chart, Column, Figure, Report, Series, Table, bucket_of, buckets
from reports.figures.volume import tally_in_zone
from reports.filters import ReportFilters
from reports.models import MailDayTally

STATES = [
    ("received", _("Received")),
    ("processed", _("Processed")),
    ("loops", _("Ignored as loops")),
    ("bounces", _("Bounces")),
    ("suspended", _("Suspended")),
    ("rejected", _("Rejected")),
    ("failed", _("Failed")),
    ("waiting", _("Waiting")),
]


def _counts() -> dict[str, Any]:
    from email_integration.models import EmailMessageStatus as S
    from email_integration.models import EmailMessageType as T

    return {
        "received": Count("id"),
        "processed": Count("id", filter=Q(status=S.PROCESSED) & ~Q(message_type=T.BOUNCE)),
        "loops": Count("id", filter=Q(status=S.IGNORED) & ~Q(message_type=T.BOUNCE)),
        "bounces": Count("id", filter=Q(message_type=T.BOUNCE)),
        "suspended": Count("id", filter=Q(status=S.SUSPENDED) & ~Q(message_type=T.BOUNCE)),
        "rejected": Count("id", filter=Q(status=S.REJECTED) & ~Q(message_type=T.BOUNCE)),
        "failed": Count("id", filter=Q(status=S.FAILED) & ~Q(message_type=T.BOUNCE)),
        "waiting": Count("id", filter=Q(status=S.RECEIVED) & ~Q(message_type=T.BOUNCE)),
    }


Per = dict[datetime.date, dict[str, int]]


def _state(message_type: str, status: str) -> str | None:
    """The report's state of a message of this type and status (None: received only)."""
    from email_integration.models import EmailMessageStatus as S
    from email_integration.models import EmailMessageType as T

    if message_type == T.BOUNCE:
        return "bounces"
    states: dict[str, str] = {
        S.PROCESSED: "processed",
        S.IGNORED: "loops",
        S.SUSPENDED: "suspended",
        S.REJECTED: "rejected",
        S.FAILED: "failed",
        S.RECEIVED: "waiting",
    }
    return states.get(status)


def _from_tally(filters: ReportFilters, per: Per) -> list[dict[str, Any]]:
    """Counts per day into ``per``, and the rows per account, summed from
    ``MailDayTally`` (a few rows per day and account)."""
    from email_integration.models import EmailAccount, EmailMessageType

    rows = (
        MailDayTally.objects.filter(day__gte=filters.start, day__lte=filters.end)
        .exclude(message_type=EmailMessageType.OUTBOUND)
        .order_by()
        .values("day", "account_id", "message_type", "status")
        .annotate(n=Sum("messages"))
        .values_list("day", "account_id", "message_type", "status", "n")
    )
    by_account: dict[int, dict[str, int]] = {}
    for day, account, message_type, status, n in rows:
        if not n:
            continue
        counts = by_account.setdefault(account, dict.fromkeys(dict(STATES), 0))
        for bucket in (per[bucket_of(day, filters)], counts):
            bucket["received"] += n
            state = _state(message_type, status)
            if state is not None:
                bucket[state] += n
    names = dict(EmailAccount.objects.filter(pk__in=list(by_account)).values_list("pk", "name"))
    return [{"account": names[pk], **counts} for pk, counts in by_account.items()]


def _from_rows(filters: ReportFilters, per: Per) -> list[dict[str, Any]]:
    """As ``_from_tally``, counted from the messages (the tally is cut in another zone)."""
    from email_integration.models import EmailMessage, EmailMessageType

    inbound = (
        EmailMessage.objects.filter(received_at__gte=filters.since, received_at__lt=filters.until)
        .exclude(message_type=EmailMessageType.OUTBOUND)
        .order_by()
    )
    for row in (
        inbound.annotate(day=TruncDate("received_at", tzinfo=filters.zone))
        .values("day")
        .annotate(**_counts())
    ):
        bucket = per[bucket_of(row["day"], filters)]
        for key, _label in STATES:
            bucket[key] += row[key]
    return [
        {"account": row["account__name"], **{k: row[k] for k, _l in STATES}}
        for row in inbound.values("account_id", "account__name").annotate(**_counts())
    ]


def mail_report(filters: ReportFilters) -> Report:
    keys: list[datetime.date] = buckets(filters)
    per: Per = {k: dict.fromkeys(dict(STATES), 0) for k in keys}
    accounts: list[dict[str, Any]] = []
    if apps.is_installed("email_integration"):
        counted = _from_tally if tally_in_zone(filters) else _from_rows
        accounts = sorted(counted(filters, per), key=lambda r: (-r["received"], r["account"]))
    totals = {key: sum(b[key] for b in per.values()) for key, _label in STATES}
    return Report(
        name="mail",
        title=_("Mail health"),
        filters=filters,
        ticket_filters=False,
        figures=[Figure(key, label, totals[key]) for key, label in STATES],
        chart=Chart(
            kind="lines",
            title=_("Mail received, processed and failed"),
            unit="count",
            labels=list(keys),
            series=[
                Series(key, label, [per[k][key] for k in keys])
                for key, label in STATES
                if key in ("received", "processed", "failed")
            ],
        ),
        tables=[
            Table(
                "by_account",
                _("By account"),
                [Column("account", _("Account"))]
                + [Column(key, label, "count") for key, label in STATES],
                accounts,
            ),
            Table(
                key="per_day" if filters.interval == "day" else "per_week",
                title=_("Per day") if filters.interval == "day" else _("Per week"),
                columns=[
                    Column("date", _("Day") if filters.interval == "day" else _("Week of"), "date"),
                    *(Column(key, label, "count") for key, label in STATES),
                ],
                rows=[{"date": k, **per[k]} for k in keys],
            ),
        ],
    )
