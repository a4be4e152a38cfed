"""CSV export of a form's submissions, streamed: one query for the columns, then rows in
id order from a server-side cursor, so memory stays flat whatever the number of rows."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from forms_builder.answers import answer_text
from forms_builder.models import CustomForm, FormSubmission
from forms_builder.selectors import submission_versions
from forms_builder.validation import Definition
from nixflow.models import Ticket

# submitter_identity says how far to trust submitter_email: "signed_in" or "confirmed"
# (the account's owner), "new_address" (nobody had it), "unverified" (an existing
# account's address, typed by anyone, not confirmed).
META_COLUMNS = [
    "submission",
    "submitted_at",
    "status",
    "submitter_email",
    "submitter_identity",
    "ticket",
]
# A spreadsheet runs a cell that starts like a formula (OWASP "CSV injection"); a leading
# apostrophe makes it text. Tab and carriage return start formulas in some programs too.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BATCH = 1000


def safe_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


class _Line:
    """A file-like object whose write returns the line instead of storing it."""

    def write(self, value: str) -> str:
        return value


def columns(form: CustomForm) -> tuple[list[str], dict[int, Definition]]:
    """The field keys of every version that has submissions, newest version's order
    first, then keys that only older versions had; and each version's definition."""
    definitions = {
        d.version: d for d in (Definition.from_snapshot(s) for s in submission_versions(form=form))
    }
    keys: list[str] = []
    for version in sorted(definitions, reverse=True):
        keys += [spec.key for spec in definitions[version].fields if spec.key not in keys]
    return keys, definitions


def submissions_csv(form: CustomForm) -> Iterator[str]:
    """The lines of the export: a header of the meta columns and the snapshot keys, then
    one row per submission with answers as people read them."""
    keys, definitions = columns(form)
    writer = csv.writer(_Line())
    yield "\ufeff" + writer.writerow([*META_COLUMNS, *keys])  # the BOM tells Excel: UTF-8
    rows = (
        FormSubmission.objects.filter(form=form)
        .order_by("id")
        .values_list(
            "id",
            "created",
            "status",
            "submitter_email",
            "submitter__email",
            "identity",
            "ticket_id",
            "form_version",
            "data",
        )
    )
    kinds_by_version = {
        version: {spec.key: spec.type for spec in definition.fields}
        for version, definition in definitions.items()
    }
    for pk, created, status, email, user_email, identity, ticket_id, version, data in rows.iterator(
        chunk_size=BATCH
    ):
        kinds = kinds_by_version.get(version, {})
        meta = [pk, created.isoformat(), status, email or user_email or "", identity, ""]
        if ticket_id:
            meta[-1] = Ticket.key_for(ticket_id)
        answers = [
            answer_text(kinds.get(key, ""), data[key]) if key in data else "" for key in keys
        ]
        yield writer.writerow([safe_cell(cell) for cell in (*meta, *answers)])
