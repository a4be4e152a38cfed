"""How apps add their rows to ``manage.py load_data``: the contract between the two.

``load_data`` (the core's benchmark loader) COPYs tickets, comments and history in
batches. The core imports no feature app, yet a benchmark of the desk needs their tables
filled too: SLA clocks, mail, search history. So an app that has rows to add for loaded
tickets puts a module ``<app>/load.py`` beside its models, with one function::

    def loader(run: LoadRun) -> Loader: ...

``load_data`` finds these modules through the app registry (as ``admin.autodiscover``
finds ``admin.py``), calls ``loader`` once per run of the apps named by ``--extras``,
then ``load(batch)`` inside each batch's transaction, after the core's rows, and
``finish()`` once after the last batch. Loaders write with ``COPY`` too (one batch is
tens of thousands of tickets: a row at a time would be the load's bottleneck), bypass
the services as the core's load does, and keep every constraint of their tables.

The event log knows no domain, so the core describes its own loaded changes to it: each
batch carries the core's ticket events (``LoadBatch.events``), and the event log's
loader writes them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from django.db import connection


@dataclass(frozen=True)
class LoadRun:
    """What every batch of one run shares."""

    rng: random.Random  # seeded by --seed: the same seed, the same rows
    now: datetime  # every generated time is at or before it
    span_seconds: float  # tickets were created over this long before ``now``
    prefix: str  # the run's "load-<hex>" prefix, also on its users' names
    agents: Sequence[int]
    requesters: Sequence[int]
    usernames: Mapping[int, str]  # of the agents and requesters above
    emails: Mapping[int, str]


@dataclass(frozen=True)
class LoadedTicket:
    """A ticket as the core COPYed it (``key`` is ``Ticket.key_for(id)``)."""

    id: int
    key: str
    title: str
    priority: str
    source: str
    workflow_id: int
    stage_id: int
    category: str  # the stage's category
    requester_id: int
    assignee_id: int | None
    created: datetime
    updated: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None


@dataclass(frozen=True)
class LoadedComment:
    id: int
    ticket: LoadedTicket
    author_id: int
    is_internal: bool
    by_agent: bool
    first_response: bool  # the first public agent comment, at first_response_at
    created: datetime


@dataclass(frozen=True)
class LoadedEvent:
    """An event the core describes for the event log (see ``nixflow.events``)."""

    type: str
    occurred_at: datetime
    actor_id: int | None
    subject_app: str
    subject_model: str
    subject_id: str
    ticket_key: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class LoadBatch:
    """One batch: its tickets and comments, committed with what the loaders write."""

    run: LoadRun
    tickets: Sequence[LoadedTicket]
    comments: Sequence[LoadedComment]
    # Built only when a loader asks (the event log's): most runs need no events.
    events: Callable[[], Iterable[LoadedEvent]] = field(default=lambda: ())


class Loader(Protocol):
    # The tables it writes: load_data vacuums and analyzes them at the end.
    tables: Sequence[str]

    def load(self, batch: LoadBatch) -> Mapping[str, int]:
        """Write this batch's rows; how many of each kind (``{"SLA clocks": 123}``)."""
        ...

    def finish(self) -> None:
        """After the last batch, in its own transaction (fold, summarise)."""
        ...


def reserve_ids(table: str, count: int) -> list[int]:
    """``count`` ids drawn from the sequence of ``table``'s ``id`` column, for rows COPYed
    with them: COPY returns no ids, and a batch's rows that refer to each other (a
    breach to its clock, an event to its comment) need them first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, count],
        )
        return [row[0] for row in cursor.fetchall()]


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY ``rows`` into ``table`` in the current transaction; how many were written."""
    count = 0
    quoted = ", ".join(f'"{column}"' for column in columns)  # "references" is reserved
    statement = f"COPY {table} ({quoted}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count
