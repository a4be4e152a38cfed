"""The reports by name: ``report_build(name=..., filters=...)`` runs one in one
snapshot. The admin pages, their CSV and the API all call it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from reports.figures import Report, snapshot
from reports.figures.backlog import backlog_report
from reports.figures.mail import mail_report
from reports.figures.people import people_report
from reports.figures.satisfaction import satisfaction_report
from reports.figures.selfservice import selfservice_report
from reports.figures.volume import volume_report
from reports.filters import ReportFilters


@dataclass(frozen=True)
class ReportKind:
    name: str
    title: str | Promise
    description: str | Promise
    build: Callable[[ReportFilters], Report]


REPORTS: dict[str, ReportKind] = {
    kind.name: kind
    for kind in [
        ReportKind(
            "volume",
            _("Volume"),
            _("Tickets created and resolved per day or week, by channel, workflow and team."),
            volume_report,
        ),
        ReportKind(
            "backlog",
            _("Backlog"),
            _("Open tickets by stage and age, and the backlog over time."),
            backlog_report,
        ),
        ReportKind(
            "people",
            _("People"),
            _("Per agent and team: tickets, replies, response times and CSAT."),
            people_report,
        ),
        ReportKind(
            "satisfaction",
            _("Satisfaction"),
            _("CSAT over time, by team and agent, and the latest comments."),
            satisfaction_report,
        ),
        ReportKind(
            "selfservice",
            _("Self-service"),
            _("Help-center searches, article views and deflected requests."),
            selfservice_report,
        ),
        ReportKind(
            "mail",
            _("Mail health"),
            _("Mail received, processed, ignored, suspended and failed, by account."),
            mail_report,
        ),
    ]
}


def report_build(*, name: str, filters: ReportFilters) -> Report:
    """The report ``name`` (a key of ``REPORTS``), all its queries in one snapshot."""
    with snapshot():
        return REPORTS[name].build(filters)
