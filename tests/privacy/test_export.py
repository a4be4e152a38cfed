"""Export: one zip, a JSON document per source and the person's files, stored through
the file storage, recorded as an event that names no one."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from eventlog.models import EventLog
from privacy.events import PERSON_EXPORTED
from privacy.models import PrivacyRequest, RequestKind
from privacy.registry import sources
from tests.forms_builder.factories import PNG
from tests.privacy.conftest import EMAIL, MARKER, NAME, World


def export(*args: str) -> str:
    out = io.StringIO()
    call_command("export_person", *args, stdout=out)
    return out.getvalue()


def test_the_archive_holds_a_document_per_source_and_every_file_of_the_person(
    world: World, tmp_path: Path
) -> None:
    path = tmp_path / "zelda.zip"

    output = export(EMAIL, "--output", str(path))

    request = PrivacyRequest.objects.get(kind=RequestKind.EXPORT)
    assert str(request.request_id) in output
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
        documents = {s.name: json.loads(archive.read(f"{s.name}.json")) for s in sources()}
        assert manifest["format"] == "nixflow-person-export/1"
        assert manifest["email"] == EMAIL
        assert {s["name"] for s in manifest["sources"]} == set(documents)
        user = documents["tickets"]["user"]
        assert (user["email"], user["first_name"], user["last_name"]) == (
            EMAIL,
            "Zelda",
            "Quartermain",
        )
        requested = {t["key"]: t for t in documents["tickets"]["tickets_requested"]}
        assert requested[world.mailed.key]["title"] == f"Printer smokes {MARKER}"
        assert requested[world.requested.key]["description"] == f"I lost my badge. {MARKER}"
        # Internal notes about them are the desk's, not part of the conversation shown.
        conversation = [c["body"] for c in requested[world.mailed.key]["public_conversation"]]
        assert f"Thanks, the smell is {MARKER}." in conversation
        assert not any("urgent" in body for body in conversation)
        assert {c["body"] for c in documents["tickets"]["comments_written"]} >= {
            f"Thanks, the smell is {MARKER}."
        }
        inbound = [m for m in documents["mail"]["messages"] if m["from"] == EMAIL]
        assert len(inbound) == 1
        assert MARKER in inbound[0]["text_body"]
        assert MARKER.encode() in archive.read(inbound[0]["raw_path"])
        [photo] = inbound[0]["attachments"]
        assert archive.read(photo["archive_path"]) == PNG + MARKER.encode()
        outbound = [m for m in documents["mail"]["messages"] if EMAIL in m["to"]]
        assert any(f"Hello {NAME}" in m["text_body"] for m in outbound)
        [submission] = documents["forms"]["submissions"]
        assert submission["answers"]["details"] == f"The VPN is down, {MARKER}."
        assert submission["ip_address"] == "198.51.100.7"
        assert archive.read(submission["files"][0]["archive_path"]) == PNG + MARKER.encode()
        assert [r["comment"] for r in documents["csat"]["ratings"]] == [f"Slow. {MARKER}"]
        assert {s["query"] for s in documents["helpcenter"]["searches"]} == {
            f"printer {MARKER}",
            "reset password",
        }
        attempts = documents["accounts"]["sign_in_attempts"]
        assert {a["username"] for a in attempts} == {EMAIL}
        assert "AccessAttempt" in {a["kind"] for a in attempts}
        for attachment in documents["tickets"]["attachments"]:
            assert attachment["archive_path"] in names
    # The same archive is in the file storage, and the event names no one.
    with default_storage.open(request.archive, "rb") as stored:
        assert stored.read() == path.read_bytes()
    event = EventLog.objects.get(type=PERSON_EXPORTED)
    assert event.payload["request_id"] == str(request.request_id)
    assert event.payload["counts"]["mail"] == request.counts["mail"] > 0
    assert EMAIL not in json.dumps(event.payload)
    assert "zelda" not in json.dumps(event.payload).lower()


def test_erasure_deletes_the_archives_of_earlier_exports(world: World) -> None:
    export(EMAIL)
    request = PrivacyRequest.objects.get(kind=RequestKind.EXPORT)
    assert default_storage.exists(request.archive)

    call_command("erase_person", EMAIL, "--yes", stdout=io.StringIO())

    assert not default_storage.exists(request.archive)
    request.refresh_from_db()
    assert request.archive == ""


@pytest.mark.django_db
def test_an_unknown_address_is_refused() -> None:
    with pytest.raises(CommandError, match="holds nothing about"):
        export("nobody@example.org")
    assert not PrivacyRequest.objects.exists()
