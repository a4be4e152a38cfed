"""The registry of personal data: each part of the desk says what it holds about a person.

A *source* names the models it covers and two functions: ``exporter(person)`` returns
what the source holds about the person (a JSON-able document and the files to copy),
``eraser(person, erasure)`` removes or anonymizes it and returns how many rows it
changed. ``privacy.services`` runs every registered source in order; it knows no table.

Sources are registered when the app registry is ready (``PrivacyConfig.ready`` loads
``privacy.sources.<app label>`` for each installed app that has one, and any app may call
``register`` from its own ``ready``). ``tests/privacy/test_registry.py`` fails when a model
with fields that can hold personal data is neither covered by a source nor listed in
``NOT_PERSONAL`` with a reason, so a new table cannot be forgotten silently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import models

if TYPE_CHECKING:
    from privacy.person import Erasure, Person


@dataclass(frozen=True)
class ExportFile:
    """A file for the archive, at ``archive_name`` (``files/<source>/...``): a stored
    file (its storage and its name there) or bytes held in a row (``content``)."""

    archive_name: str
    storage: Any = None
    name: str = ""
    content: bytes | None = None


@dataclass
class Export:
    """What one source holds about a person: ``data`` (JSON-able) and files to copy."""

    data: dict[str, Any]
    files: list[ExportFile] = field(default_factory=list)


Exporter = Callable[["Person"], Export]
Eraser = Callable[["Person", "Erasure"], int]


@dataclass(frozen=True)
class Source:
    name: str
    models: tuple[type[models.Model], ...]
    exporter: Exporter
    eraser: Eraser
    # Lower runs first. Erasure needs an order: the core (users, tickets) erases last,
    # after sources that find the person's rows through the user or their tickets.
    order: int
    description: str


_SOURCES: dict[str, Source] = {}


def register(
    name: str,
    *,
    models: Sequence[type[models.Model]],
    exporter: Exporter,
    eraser: Eraser,
    order: int = 50,
    description: str = "",
) -> None:
    """Declare a source of personal data; registering a name twice replaces it (the
    test settings reload apps)."""
    _SOURCES[name] = Source(
        name=name,
        models=tuple(models),
        exporter=exporter,
        eraser=eraser,
        order=order,
        description=description,
    )


def sources() -> list[Source]:
    return sorted(_SOURCES.values(), key=lambda s: (s.order, s.name))


def covered_models() -> set[type[models.Model]]:
    return {model for source in _SOURCES.values() for model in source.models}


# Models with text, JSON or file fields that hold nothing about a data subject, and why.
# Labels, so that a missing optional app is no error.
NOT_PERSONAL: dict[str, str] = {
    "nixflow.workflow": "the desk's configuration",
    "nixflow.stage": "the desk's configuration",
    "nixflow.transition": "the desk's configuration",
    "nixflow.desksettings": "the desk's configuration",
    "nixflow.ticketfield": "the desk's configuration",
    "nixflow.team": "the desk's configuration (a team address, not a person's)",
    "nixflow.routingrule": "the desk's configuration",
    "nixflow.tag": "the desk's vocabulary",
    "nixflow.ticketlink": "ids and a kind",
    "sla.businesscalendar": "the desk's configuration",
    "sla.workinginterval": "the desk's configuration",
    "sla.calendarholiday": "the desk's configuration",
    "sla.slapolicy": "the desk's configuration (an escalation address of the desk)",
    "sla.slatarget": "the desk's configuration",
    "sla.slametric": "clock state of a ticket",
    "sla.sladailytally": "counts",
    "knowledge.knowledgecategory": "published content",
    "knowledge.knowledgetag": "published content",
    "knowledge.knowledgearticle": "published content written by staff",
    "knowledge.knowledgearticleversion": "content written by staff",
    "knowledge.knowledgearticleformerslug": "published content",
    "knowledge.knowledgecategoryformerslug": "published content",
    "knowledge.knowledgearticleattachment": "published content",
    "knowledge.knowledgearticleticketlink": "ids",
    "knowledge.knowledgeword": "the vocabulary of published articles",
    "knowledge.knowledgearticlerating": "a vote keyed by a random reader key",
    "knowledge.knowledgearticleview": "a view keyed by a random reader key",
    "forms_builder.customform": "the desk's configuration",
    "forms_builder.formfield": "the desk's configuration",
    "email_integration.emailaccount": "the desk's own mailboxes",
    "macros.macro": "staff's canned replies",
    "macros.bulkapply": "a staff action's bookkeeping",
    "csat.surveypolicy": "the desk's configuration",
    "automation.rule": "the desk's configuration",
    "automation.rulefiring": "ids and a state",
    "webhooks.endpoint": "the desk's configuration",
    "reports.ticketdaytally": "counts",
    "reports.tallyzone": "the desk's configuration",
    "reports.replydaytally": "counts",
    "reports.articleviewdaytally": "counts",
    "reports.maildaytally": "counts",
    "eventlog.seal": "digests over the log",
    "eventlog.delivery": "ids and a state",
    "contenttypes.contenttype": "Django's own tables",
    "auth.permission": "Django's own tables",
    "auth.group": "the desk's roles",
    "django_celery_beat.solarschedule": "the scheduler's configuration",
    "django_celery_beat.intervalschedule": "the scheduler's configuration",
    "django_celery_beat.clockedschedule": "the scheduler's configuration",
    "django_celery_beat.crontabschedule": "the scheduler's configuration",
    "django_celery_beat.periodictasks": "the scheduler's configuration",
    "django_celery_beat.periodictask": "the scheduler's configuration",
    "axes.accessattemptexpiration": "a time, cascaded from the attempt",
    "privacy.privacyrequest": "counts and ids only, by design",
}
