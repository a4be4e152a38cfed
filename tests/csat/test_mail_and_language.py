"""The survey mail in the requester's language, and the German catalog complete."""

from __future__ import annotations

import gettext
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail

from eventlog import outbox
from nixflow.models import Ticket, User

Move = Callable[[Ticket, str], Ticket]


@pytest.mark.django_db
def test_a_german_requester_gets_the_mail_in_german(
    worked_ticket: Ticket, move: Move, requester: User
) -> None:
    User.objects.filter(pk=requester.pk).update(language="de")
    move(worked_ticket, "Resolved")  # by an agent whose language is English
    outbox.run_inline()

    message = mail.outbox[0]
    assert message.subject == f"[{worked_ticket.key}] Wie zufrieden waren Sie?"
    assert message.body.startswith("Hallo requester,\n")
    assert f"Ihre Anfrage {worked_ticket.key} „Printer on fire“ wurde erledigt." in message.body
    assert "Sie können Ihre Antwort 7 Tage lang ändern." in message.body
    assert message.extra_headers["Content-Language"] == "de"
    good = next(line for line in message.body.splitlines() if line.startswith("Gut:"))
    assert good.startswith(f"Gut: {settings.NIXFLOW_SITE_URL.rstrip('/')}/satisfaction/")
    assert good.endswith("/good/")


@pytest.mark.django_db
def test_an_english_requester_gets_the_mail_in_english(worked_ticket: Ticket, move: Move) -> None:
    move(worked_ticket, "Resolved")
    outbox.run_inline()
    message = mail.outbox[0]
    assert message.subject == f"[{worked_ticket.key}] How did we do?"
    assert "Good: http" in message.body
    assert "Bad: http" in message.body
    assert "You can change your answer for 7 days." in message.body


def test_the_german_catalog_is_complete_and_compiled(tmp_path: Path) -> None:
    """makemessages over the app's current code adds no untranslated string."""
    app = Path(__file__).resolve().parents[2] / "csat"
    copy = tmp_path / "csat"
    shutil.copytree(app, copy, ignore=shutil.ignore_patterns("__pycache__"))
    manage = app.parent / "manage.py"
    subprocess.run(
        [sys.executable, str(manage), "makemessages", "-l", "de", "--no-location"],
        cwd=copy,
        check=True,
        capture_output=True,
    )
    po = (copy / "locale/de/LC_MESSAGES/django.po").read_text()
    entries = po.split("\n\n")[1:]  # after the header
    assert entries
    empty = [e for e in entries if 'msgstr ""\n' in e + "\n" or 'msgstr[0] ""' in e]
    empty = [e for e in empty if not _continued(e)]
    assert not empty, "untranslated:\n" + "\n\n".join(empty)
    assert "#, fuzzy" not in po
    # The committed .mo holds exactly what the current catalog compiles to.
    fresh = copy / "fresh.mo"
    subprocess.run(
        ["msgfmt", "-o", str(fresh), str(copy / "locale/de/LC_MESSAGES/django.po")], check=True
    )
    committed = app / "locale/de/LC_MESSAGES/django.mo"
    assert _catalog(committed) == _catalog(fresh)


def _catalog(path: Path) -> dict[object, str]:
    with path.open("rb") as file:
        catalog = dict(gettext.GNUTranslations(file)._catalog)  # type: ignore[attr-defined]
    catalog.pop("", None)  # the header: dates differ
    return catalog


def _continued(entry: str) -> bool:
    """A long msgstr starts with "" and goes on in the next lines."""
    lines = entry.splitlines()
    for i, line in enumerate(lines):
        if line in ('msgstr ""', 'msgstr[0] ""', 'msgstr[1] ""'):
            return i + 1 < len(lines) and lines[i + 1].startswith('"')
    return False
