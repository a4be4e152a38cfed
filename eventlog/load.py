"""``load_data --extras eventlog``: the loaded tickets' events in the event log.

The event log knows no domain: the core describes its loaded changes (each batch's
``events``: created, moved to the current stage, each comment; see load_data) and this
loader writes them, with COPY, as any insert would: PostgreSQL's BEFORE INSERT trigger
stamps each row's ``recorded_at`` (the load's time) and ``row_hash``, and the id's default
takes the transaction id first (migration 0003), so ``verify_eventlog`` accepts them and
the sealer seals them like any other events (``verify_eventlog --seal`` at once).

Nothing is disguised: ``occurred_at`` is the generated (past) time, ``recorded_at`` when
the row was really inserted, and every payload carries ``"load_run": "load-<hex>"``, the
run's prefix (an added key: payload contracts allow it). Loaded events are not delivered
to subscribers (no outbox rows): they describe a past that sent its mail long ago.

Size: one event per ticket, one more for each ticket past its first stage, one per
comment: about 4 per ticket with two comments.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from eventlog.services import SYSTEM
from nixflow.toolkit.loading import LoadBatch, LoadRun, copy_rows

COLUMNS = (
    "type",
    "occurred_at",
    "actor_id",
    "actor_label",
    "subject_app",
    "subject_model",
    "subject_id",
    "ticket_key",
    "payload",
    "correlation_id",
)


class EventLoader:
    tables = ("eventlog_eventlog",)

    def __init__(self, run: LoadRun) -> None:
        self.run = run

    def load(self, batch: LoadBatch) -> Mapping[str, int]:
        return {"events": copy_rows("eventlog_eventlog", COLUMNS, self.rows(batch))}

    def rows(self, batch: LoadBatch) -> Iterator[tuple[Any, ...]]:
        rng, usernames = self.run.rng, self.run.usernames
        for event in batch.events():
            actor = event.actor_id
            yield (
                event.type,
                event.occurred_at,
                actor,
                SYSTEM if actor is None else usernames.get(actor, SYSTEM),
                event.subject_app,
                event.subject_model,
                event.subject_id,
                event.ticket_key,
                json.dumps(event.payload, cls=DjangoJSONEncoder),
                uuid.UUID(int=rng.getrandbits(128), version=4),
            )

    def finish(self) -> None:
        pass


def loader(run: LoadRun) -> EventLoader:
    return EventLoader(run)
