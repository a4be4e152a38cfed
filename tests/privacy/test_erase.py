"""Erasure: after erase_person, neither a dump of the whole database nor the file storage
holds the person's name, address or anything they wrote, and the event log verifies."""

from __future__ import annotations

import importlib.util
import io
import os
import subprocess
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import connection

from csat.models import Rating
from email_integration.models import EmailMessage
from eventlog.models import EventLog
from forms_builder.models import FormSubmission
from nixflow.models import Comment, HistoryLog, Ticket, User
from privacy.events import PERSON_ERASED
from privacy.models import PrivacyRequest, RequestKind
from tests.privacy.conftest import EMAIL, MARKER, NAME, World, storage_files
from tests.support.s3 import Bucket

NEEDLES = [EMAIL, NAME, "Quartermain", MARKER]
REPO = Path(__file__).resolve().parents[2]


def _pg_tools():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("pg_tools", REPO / "scripts" / "pg_tools.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def database_dump() -> str:
    """``pg_dump --data-only`` of the whole test database, by the server's version."""
    tools = _pg_tools()
    params = tools.connection_params(connection.settings_dict)
    pg_dump = Path(tools.matching_bin(tools.server_major(params))) / "pg_dump"
    result = subprocess.run(
        [str(pg_dump), "--data-only", "--no-owner", "--format=plain"],
        env={**os.environ, **params},
        capture_output=True,
        check=True,
    )
    return result.stdout.decode("utf-8", "replace")


def found_in_dump(dump: str) -> dict[str, list[str]]:
    """Each needle's hits in the dump, as text and as bytea hex (mail's raw bytes): the
    table and the start of the row."""
    found: dict[str, list[str]] = {}
    table = ""
    for line in dump.lower().splitlines():
        if line.startswith("copy "):
            table = line.split()[1]
            continue
        for needle in NEEDLES:
            if needle.lower() in line or needle.encode().hex() in line:
                found.setdefault(needle, []).append(f"{table}: {line[:200]}")
    return found


def found_in_storage() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name in storage_files():
        with default_storage.open(name, "rb") as stored:
            content = stored.read().lower()
        for needle in NEEDLES:
            if needle.lower() in name.lower() or needle.lower().encode() in content:
                found.setdefault(needle, []).append(name)
    return found


def erase(*args: str) -> str:
    out = io.StringIO()
    call_command("erase_person", *args, stdout=out)
    return out.getvalue()


def test_after_erasure_no_dump_of_the_database_nor_the_storage_names_the_person(
    world: World,
) -> None:
    # The world really holds the person everywhere (otherwise the test proves nothing).
    before = found_in_dump(database_dump())
    assert set(before) == set(NEEDLES)
    assert set(found_in_storage()) >= {MARKER}
    tickets = Ticket.objects.count()
    comments = Comment.objects.count()
    history = HistoryLog.objects.count()

    output = erase(EMAIL, "--yes")

    assert "Erased request" in output
    leftover = found_in_dump(database_dump())
    log = "public.eventlog_eventlog:"
    assert [hit for hits in leftover.values() for hit in hits if not hit.startswith(log)] == []
    assert found_in_storage() == {}
    # The tickets keep their shape: every row is still there.
    assert (Ticket.objects.count(), Comment.objects.count(), HistoryLog.objects.count()) == (
        tickets,
        comments,
        history,
    )
    mailed = Ticket.objects.get(pk=world.mailed.pk)
    assert (mailed.title, mailed.description) == ("[erased]", "[erased]")
    placeholder = mailed.requester
    assert placeholder.pk == world.person.pk
    assert (placeholder.username, placeholder.email, placeholder.is_active) == (
        f"erased-{world.person.pk}",
        "",
        False,
    )
    assert not placeholder.has_usable_password()
    # The agent's words stay, without the person's name or address.
    reply = Comment.objects.get(ticket=mailed, author=world.agent, is_internal=False)
    assert reply.body == "Hello [erased], we will send a technician to [erased]'s desk."
    note = Comment.objects.get(ticket=mailed, author=world.agent, is_internal=True)
    assert note.body == "[erased] says it is urgent; [erased]'s floor."
    # The search documents were rewritten: the old words no longer find the ticket.
    assert not Ticket.objects.filter(pk=mailed.pk).extra(
        where=["search_agent @@ plainto_tsquery('english', %s)"], params=["Quartermain"]
    )
    assert Rating.objects.get(ticket=mailed).comment == "[erased]"
    assert FormSubmission.objects.get(ticket=world.formed).ip_address is None
    assert all(not bytes(m.raw) for m in EmailMessage.objects.filter(ticket=mailed))
    # The log verifies, and the erasure is in it without personal data.
    out = io.StringIO()
    call_command("verify_eventlog", stdout=out)
    assert "intact" in out.getvalue().lower()
    event = EventLog.objects.get(type=PERSON_ERASED)
    request = PrivacyRequest.objects.get(kind=RequestKind.ERASURE)
    assert event.payload["request_id"] == str(request.request_id)
    assert event.payload["counts"]["mail"] > 0
    assert event.payload["counts"]["tickets"] > 0
    assert event.payload["legacy_events"] == 0
    # Nor does the log hold the person in plain: their values were encrypted under a key
    # that the erasure deleted.
    assert leftover == {}, leftover


def test_on_s3_the_erasure_deletes_the_person_s_objects_from_the_bucket(
    world_on_s3: World, object_storage: Bucket
) -> None:
    def marked() -> list[str]:
        return [
            key
            for key in object_storage.object_keys()
            if MARKER.encode() in object_storage.body(key).lower()
        ]

    keys = object_storage.object_keys()
    assert len(marked()) >= 4  # mail attachment, portal file, reply file, form file

    erase(EMAIL, "--yes")

    assert marked() == []
    assert set(object_storage.object_keys()) < set(keys)
    assert found_in_storage() == {}


def test_erasing_again_changes_nothing_and_says_so(world: World) -> None:
    erase(EMAIL, "--yes")

    output = erase(EMAIL, "--yes")

    assert "nothing left to change" in output
    first, second = PrivacyRequest.objects.filter(kind=RequestKind.ERASURE).order_by("created")
    assert sum(first.counts.values()) > 0
    assert set(second.counts.values()) == {0}
    assert second.files == 0


@pytest.mark.django_db
def test_an_unknown_address_is_refused_with_a_clear_message() -> None:
    with pytest.raises(CommandError, match=r"holds nothing about “nobody@example\.org”"):
        erase("nobody@example.org", "--yes")
    with pytest.raises(CommandError, match="not an e-mail address"):
        erase("nobody", "--yes")
    assert not PrivacyRequest.objects.exists()


@pytest.mark.django_db
def test_a_staff_account_is_erased_only_with_the_staff_flag() -> None:
    from tests.factories import UserFactory

    agent = UserFactory(username="agent", email="agent@desk.test", role="agent")
    with pytest.raises(CommandError, match="staff account"):
        erase("agent@desk.test", "--yes")
    assert User.objects.get(pk=agent.pk).email == "agent@desk.test"

    erase("agent@desk.test", "--yes", "--staff")

    assert User.objects.get(pk=agent.pk).email == ""
