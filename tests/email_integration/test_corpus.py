"""A corpus of malformed and oddly encoded messages (tests/email_integration/corpus/):
none of them may crash a batch, and each ends stored with a definite status."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command

from email_integration.models import EmailAccount, EmailMessage, EmailMessageStatus
from nixflow.models import Ticket

pytestmark = pytest.mark.django_db

CORPUS = Path(__file__).parent / "corpus"


def test_ingesting_the_malformed_corpus_stores_every_message_and_never_stops(
    account: EmailAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    files = sorted(CORPUS.iterdir())
    call_command("ingest_email", "--account", account.name, str(CORPUS))

    assert EmailMessage.objects.count() == len(files)
    statuses = set(EmailMessage.objects.values_list("status", flat=True))
    assert statuses <= {EmailMessageStatus.PROCESSED, EmailMessageStatus.IGNORED}
    assert f"{len(files)} messages" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "title", "text"),
    [
        ("01-encoded-words.eml", "Überprüfung Umlaut", "Überprüfung der Drucker"),
        ("02-unknown-charset.eml", "unknown charset", "Hello"),
        ("03-wrong-charset.eml", "latin1 body declared utf8", "aus K"),
        ("13-gb2312.eml", "gb2312", "你好 世界"),
        ("10-html-only-weird-subject.eml", None, "Only HTML"),
    ],
)
def test_odd_encodings_are_decoded_leniently(
    account: EmailAccount, name: str, title: str | None, text: str
) -> None:
    call_command("ingest_email", "--account", account.name, str(CORPUS / name))
    message = EmailMessage.objects.get()
    assert message.status == EmailMessageStatus.PROCESSED
    ticket = message.ticket
    if title is not None:
        assert ticket.title == title
    assert text in ticket.description
    assert "alert(1)" not in message.html_body


def test_a_message_with_no_usable_sender_is_kept_and_ignored_with_a_reason(
    account: EmailAccount,
) -> None:
    for name in ("06-no-from.eml", "09-binary-junk.eml"):
        call_command("ingest_email", "--account", account.name, str(CORPUS / name))
    for message in EmailMessage.objects.all():
        assert message.status == EmailMessageStatus.IGNORED
        assert message.error_reason == "No usable sender address."
        assert bytes(message.raw)  # nothing is lost: the raw bytes are kept
    assert not Ticket.objects.exists()


def test_hostile_attachment_names_are_made_safe(
    account: EmailAccount, settings: object, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    call_command("ingest_email", "--account", account.name, str(CORPUS / "14-hostile-filename.eml"))
    (attachment,) = EmailMessage.objects.get().attachments.all()
    assert attachment.filename == "_evil.txt"
    assert Path(attachment.file.path).resolve().is_relative_to(tmp_path)


def test_ingest_email_reads_maildir_and_mbox(account: EmailAccount, tmp_path: Path) -> None:
    import mailbox

    from tests.email_integration.messages import mail

    maildir = mailbox.Maildir(tmp_path / "Maildir", create=True)
    maildir.add(mail(subject="From maildir"))
    box = mailbox.mbox(tmp_path / "archive.mbox", create=True)
    box.add(mail(subject="From mbox one"))
    box.add(mail(subject="From mbox two"))
    box.flush()

    call_command(
        "ingest_email", "--account", account.name, str(tmp_path / "Maildir"),
        str(tmp_path / "archive.mbox"),
    )  # fmt: skip
    assert sorted(Ticket.objects.values_list("title", flat=True)) == [
        "From maildir",
        "From mbox one",
        "From mbox two",
    ]
