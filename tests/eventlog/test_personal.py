"""Personal values in events are stored encrypted under their person's key: readable while
the key exists, "[erased]" once it is shredded, and the log still verifies."""

from __future__ import annotations

import copy
import io
import pickle

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from pytest_django.fixtures import Settings

from eventlog import sealing
from eventlog.models import Delivery, EventLog, PersonKey
from eventlog.personal import (
    ERASED,
    UNREADABLE,
    Personal,
    events_about,
    legacy_events_mentioning,
    person_of,
    personal,
    shred,
)
from eventlog.services import event_record, events_recorded
from nixflow.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ADDRESS = "Ann.Example@Example.org"


def record(subject: User, payload: dict, *, actor: User | None = None) -> EventLog:
    with transaction.atomic():
        return event_record(type="test.happened", subject=subject, actor=actor, payload=payload)


def stored_text(event: EventLog) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT payload::text || ' ' || actor_label FROM eventlog_eventlog WHERE id = %s",
            [event.pk],
        )
        return cursor.fetchone()[0]


def test_a_personal_value_is_stored_encrypted_and_read_back_plain(requester: User) -> None:
    event = record(
        requester,
        {
            "sender": personal(ADDRESS, person=ADDRESS),
            "answers": personal({"Name": "Ann Example", "Seats": 3}, person=ADDRESS),
            "ticket_id": 7,
        },
    )

    text = stored_text(event)
    assert "Ann" not in text
    assert "example.org" not in text.lower()
    assert '"$personal"' in text
    assert '"ticket_id": 7' in text
    assert EventLog.objects.get(pk=event.pk).payload == {
        "sender": ADDRESS,
        "answers": {"Name": "Ann Example", "Seats": 3},
        "ticket_id": 7,
    }


def test_shredding_a_person_erases_their_values_and_only_theirs(requester: User) -> None:
    other = "bob@example.org"
    event = record(
        requester,
        {"ann": personal("Ann's words", person=ADDRESS), "bob": personal("Bob's", person=other)},
    )

    assert shred(ADDRESS.upper()) == 1
    assert shred(ADDRESS) == 0

    assert EventLog.objects.get(pk=event.pk).payload == {"ann": ERASED, "bob": "Bob's"}
    assert "Ann's words" not in stored_text(event)


def test_the_log_verifies_after_shredding_and_still_catches_tampering(requester: User) -> None:
    events = [
        record(requester, {"said": personal(f"secret {n}", person=ADDRESS)}) for n in range(3)
    ]
    sealing.seal_pending()

    shred(ADDRESS)

    assert sealing.verify()[0] == []
    call_command("verify_eventlog")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            'UPDATE eventlog_eventlog SET payload = \'{"said": "forged"}\' WHERE id = %s',
            [events[1].pk],
        )
    with pytest.raises(CommandError, match=f"Event #{events[1].pk} was altered"):
        call_command("verify_eventlog")


def test_a_person_gets_one_key_whatever_the_case_of_their_address(requester: User) -> None:
    record(requester, {"a": personal("x", person=ADDRESS)})
    record(requester, {"a": personal("y", person=ADDRESS.lower())})

    assert PersonKey.objects.count() == 1
    key = PersonKey.objects.get()
    assert ADDRESS.lower() not in key.person_ref
    assert len(key.person_ref) == 64
    assert not key.key.startswith("\\x")
    assert len(key.key) > 32


def test_in_process_receivers_see_plain_values(requester: User) -> None:
    seen: list[dict] = []

    def receiver(sender: object, events: list[EventLog], **kwargs: object) -> None:
        seen.extend(event.payload for event in events)

    events_recorded.connect(receiver)
    try:
        record(requester, {"subject": personal("My printer", person=ADDRESS)})
    finally:
        events_recorded.disconnect(receiver)

    assert seen == [{"subject": "My printer"}]
    # Pickled (Celery, caches) as the plain string it reads as.
    unpickled = pickle.loads(pickle.dumps(seen[0]["subject"]))  # noqa: S301 -- our own bytes
    assert (type(unpickled), unpickled) == (str, "My printer")
    assert isinstance(copy.deepcopy(seen[0])["subject"], Personal)


def test_a_value_read_back_and_recorded_again_stays_under_its_persons_key(requester: User) -> None:
    first = record(requester, {"subject": personal("Quiet please", person=ADDRESS)})
    copied = record(requester, {"copied": EventLog.objects.get(pk=first.pk).payload["subject"]})

    assert "Quiet please" not in stored_text(copied)
    shred(ADDRESS)
    assert EventLog.objects.get(pk=copied.pk).payload == {"copied": ERASED}


def test_every_way_of_reading_rows_decrypts(requester: User) -> None:
    event = record(requester, {"s": personal("hello", person=ADDRESS)})
    Delivery.objects.create(event=event, subscriber="x")
    events = EventLog.objects.filter(pk=event.pk)

    assert events.get().payload == {"s": "hello"}
    assert next(events.iterator()).payload == {"s": "hello"}
    assert list(events.values("payload")) == [{"payload": {"s": "hello"}}]
    assert list(events.values_list("id", "payload")) == [(event.pk, {"s": "hello"})]
    assert list(events.values_list("payload", flat=True)) == [{"s": "hello"}]
    assert Delivery.objects.get(event=event).event.payload == {"s": "hello"}
    reloaded = EventLog.objects.get(pk=event.pk)
    reloaded.refresh_from_db()
    assert reloaded.payload == {"s": "hello"}


def test_a_page_of_events_loads_its_keys_in_one_query(requester: User) -> None:
    def queries_for(count: int) -> int:
        with transaction.atomic():
            for n in range(count):
                person = f"p{n}@example.org"
                event_record(
                    type="test.happened",
                    subject=requester,
                    actor=None,
                    payload={"s": personal("x", person=person)},
                )
        with CaptureQueriesContext(connection) as queries:
            assert all(e.payload == {"s": "x"} for e in EventLog.objects.all()[:count])
        return len(queries)

    assert queries_for(2) == queries_for(20) == 2


def test_recording_many_events_loads_their_keys_at_once(requester: User) -> None:
    from eventlog.services import event_build, event_record_many

    events = [
        event_build(
            type="test.happened",
            subject=requester,
            actor=None,
            payload={"s": personal("x", person=f"p{n}@example.org")},
        )
        for n in range(10)
    ]
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        event_record_many(events=events)
    key_queries = [q for q in queries.captured_queries if "eventlog_personkey" in q["sql"]]
    assert len(key_queries) == 3  # select, insert the new ones, select them


def test_requesters_are_labelled_by_id_and_shown_by_their_current_name(
    requester: User, agent: User
) -> None:
    by_requester = record(requester, {}, actor=requester)
    by_agent = record(requester, {}, actor=agent)

    assert by_requester.actor_label == f"person:{requester.pk}"
    assert requester.username not in stored_text(by_requester)
    assert by_agent.actor_label == agent.username
    requester.username = "renamed"
    requester.save()
    assert EventLog.objects.get(pk=by_requester.pk).actor_name == "renamed"
    assert EventLog.objects.get(pk=by_agent.pk).actor_name == agent.username
    User.objects.filter(pk=requester.pk).delete()
    assert EventLog.objects.get(pk=by_requester.pk).actor_name == ERASED


def test_events_about_finds_a_persons_events_and_those_they_acted_in(
    requester: User, agent: User
) -> None:
    nested = record(requester, {"list": [{"deep": personal("a", person=ADDRESS)}]})
    record(requester, {"other": personal("b", person="bob@example.org")})
    acted = record(requester, {}, actor=requester)
    record(requester, {"plain": "nothing"}, actor=agent)

    assert list(events_about(ADDRESS)) == [nested]
    assert list(events_about(ADDRESS, actor_ids=[requester.pk])) == [nested, acted]
    assert list(events_about("nobody@example.org")) == []
    shred(ADDRESS)
    assert list(events_about(ADDRESS)) == []


def test_legacy_events_holding_an_address_in_plain_are_found_not_the_encrypted_ones(
    requester: User,
) -> None:
    legacy = record(requester, {"requester": ADDRESS.lower(), "note": 'Said "hi"'})
    record(requester, {"requester": personal(ADDRESS, person=ADDRESS)})
    with transaction.atomic():
        labelled = EventLog.objects.create(
            type="test.old",
            actor_label="ann",
            subject_app="x",
            subject_model="y",
            subject_id="1",
            correlation_id="00000000-0000-4000-8000-000000000000",
        )

    assert list(legacy_events_mentioning(ADDRESS)) == [legacy]
    assert list(legacy_events_mentioning(ADDRESS, also=["Ann", 'said "hi"'])) == [legacy, labelled]


def test_an_empty_value_stays_empty_and_a_value_needs_a_person(requester: User) -> None:
    assert personal("", person=ADDRESS) == ""
    with pytest.raises(ValueError, match="person"):
        personal("x", person=" ")
    user = UserFactory(email="")
    assert person_of(user) == f"user:{user.pk}"
    assert person_of(UserFactory(email="X@Y.org")) == "x@y.org"


def test_rotate_secrets_re_encrypts_person_keys_with_the_new_secret_key(
    requester: User, settings: Settings
) -> None:
    event = record(requester, {"s": personal("kept", person=ADDRESS)})
    old = list(settings.NIXFLOW_SECRET_KEYS)
    new = Fernet.generate_key().decode()
    settings.NIXFLOW_SECRET_KEYS = [new, *old]

    call_command("rotate_secrets", stdout=io.StringIO())

    settings.NIXFLOW_SECRET_KEYS = [new]
    assert EventLog.objects.get(pk=event.pk).payload == {"s": "kept"}


def test_a_key_no_secret_key_opens_reads_as_unreadable_not_erased(
    requester: User, settings: Settings
) -> None:
    event = record(requester, {"s": personal("kept", person=ADDRESS)})
    settings.NIXFLOW_SECRET_KEYS = [Fernet.generate_key().decode()]

    assert EventLog.objects.get(pk=event.pk).payload == {"s": UNREADABLE}
