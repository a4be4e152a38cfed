"""Personal data in the event log, stored so that erasing a person does not edit the log.

The event log is append-only and every row is hashed as inserted (migration 0002), so a
person's address, name or words can never be taken out of an event again. They are
therefore never put in: a producer wraps each personal value with ``personal(value,
person=address)``, and when the event is stored the value is encrypted (AES-256-GCM)
under a key of that person's own (``PersonKey``). The row, and so its hash, holds only
the ciphertext. Erasing the person deletes the key (``shred``): the ciphertext stays,
still hashed and sealed, and can no longer be read by anyone. Reading an event back
gives the plain value while the key exists and ``ERASED`` after.

Stored form of one personal value, in place of the string::

    {"$personal": <PersonKey id>, "c": "<base64 of 12-byte nonce + ciphertext + tag>"}

A value given to ``personal`` that is a dict or a list has each string in it wrapped;
numbers, booleans and None are left as they are (they identify nobody on their own).

In the process that records an event nothing changes for consumers: the marker returned
by ``personal`` is a ``str`` with the plain value, so ``events_recorded`` receivers read
the payload as before. Rows read back through ``EventLog.objects`` (or a related
manager) are decrypted, one query for the keys of a whole page (``EventLogQuerySet``).

A person is named by their e-mail address, lower-cased (``person_of(user)`` for a user,
``user:<id>`` for one without an address). The key table does not hold the address
either: ``person_ref`` is an HMAC of it (``EVENTLOG_PERSON_REF_SECRET``, by default
derived from ``SECRET_KEY``), so a copy of the database does not tell whose keys exist
without that secret. The keys themselves are encrypted with ``NIXFLOW_SECRET_KEYS``
(Fernet, like mail account passwords) and rotated with them by ``rotate_secrets``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import models
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast

ENVELOPE = "$personal"
CIPHERTEXT = "c"
# What a personal value reads as once its person was erased (the key is gone), and when
# its ciphertext does not decrypt (damaged, or a key that does not belong to it).
ERASED = "[erased]"
UNREADABLE = "[unreadable]"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # AES-GCM's standard nonce
# Bound into every ciphertext, so that a value cannot pass for one of another purpose.
ASSOCIATED_DATA = b"nixflow-eventlog-personal-v1"


class Personal(str):
    """A personal value on its way into an event: reads as the plain string.

    ``person`` names whose key encrypts it; ``key_id`` is set instead on values read back
    from the log, so that a consumer who records such a value again keeps it under the
    same person's key.
    """

    person: str | None
    key_id: int | None

    def __new__(
        cls, value: str, *, person: str | None = None, key_id: int | None = None
    ) -> Personal:
        marker = super().__new__(cls, value)
        marker.person = normalize(person) if person is not None else None
        marker.key_id = key_id
        return marker

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (Celery, caches) as the plain string it reads as.
        return (str, (str(self),))

    # Copies keep the marker (copy.deepcopy would otherwise go through __reduce__ and
    # turn a payload's personal values into plain strings, stored in plain).
    def __copy__(self) -> Personal:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Personal:
        return self


def normalize(person: str) -> str:
    person = (person or "").strip().lower()
    if not person:
        raise ValueError("A personal value needs the person it is about (an e-mail address).")
    return person


def person_of(user: Any) -> str:
    """The person a user is: their e-mail address, or ``user:<id>`` without one."""
    email = (getattr(user, "email", "") or "").strip()
    return email.lower() if email else f"user:{user.pk}"


def personal(value: Any, *, person: str) -> Any:
    """``value`` marked as personal data of ``person`` (an e-mail address), for an event
    payload. Strings (and the strings inside dicts and lists) are encrypted when the event
    is stored; an empty string stays empty (it says nothing about anyone)."""
    person = normalize(person)
    if isinstance(value, str):
        return Personal(value, person=person) if value else value
    if isinstance(value, Mapping):
        return {key: personal(item, person=person) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [personal(item, person=person) for item in value]
    return value


# --- Keys ------------------------------------------------------------------------------
def _ref_secret() -> bytes:
    secret = getattr(settings, "EVENTLOG_PERSON_REF_SECRET", "") or (
        f"nixflow-person-ref:{settings.SECRET_KEY}"
    )
    return secret.encode()


def person_ref(person: str) -> str:
    """The key table's name for a person: an HMAC of the normalized address."""
    return hmac.new(_ref_secret(), normalize(person).encode(), hashlib.sha256).hexdigest()


@cache
def _fernet() -> MultiFernet:
    keys = list(getattr(settings, "NIXFLOW_SECRET_KEYS", []))
    if not keys:
        raise ImproperlyConfigured("NIXFLOW_SECRET_KEYS is empty: person keys cannot be stored.")
    return MultiFernet([Fernet(key) for key in keys])


def _forget_keys(*, setting: str, **kwargs: Any) -> None:
    if setting == "NIXFLOW_SECRET_KEYS":
        _fernet.cache_clear()


setting_changed.connect(_forget_keys, dispatch_uid="eventlog.personal")


def wrap_key(key: bytes) -> str:
    return _fernet().encrypt(key).decode()


def unwrap_key(token: str) -> bytes | None:
    try:
        return _fernet().decrypt(token.encode())
    except InvalidToken:
        return None


def _keys_for(persons: Iterable[str]) -> dict[str, tuple[int, bytes]]:
    """Each person's (key id, key), created for those who have none yet: two queries
    for any number of persons (three when some are new)."""
    from eventlog.models import PersonKey

    refs = {person_ref(person): person for person in set(persons)}
    if not refs:
        return {}
    found = _load_by_ref(refs)
    missing = [ref for ref in refs if ref not in found]
    if missing:
        # ignore_conflicts: a concurrent transaction creating the same person's key
        # makes this INSERT wait on the unique index, then skip; the SELECT below (a new
        # statement, so a new snapshot) then finds the key it committed.
        PersonKey.objects.bulk_create(
            [PersonKey(person_ref=ref, key=wrap_key(os.urandom(KEY_BYTES))) for ref in missing],
            ignore_conflicts=True,
        )
        found.update(_load_by_ref({ref: refs[ref] for ref in missing}))
    return {refs[ref]: entry for ref, entry in found.items()}


def _load_by_ref(refs: Mapping[str, str]) -> dict[str, tuple[int, bytes]]:
    from eventlog.models import PersonKey

    found = {}
    for pk, ref, token in PersonKey.objects.filter(person_ref__in=list(refs)).values_list(
        "pk", "person_ref", "key"
    ):
        key = unwrap_key(token)
        if key is None:
            raise ImproperlyConfigured(
                "A person key cannot be decrypted with any key in NIXFLOW_SECRET_KEYS "
                "(was a key removed before `manage.py rotate_secrets` ran?)."
            )
        found[ref] = (pk, key)
    return found


def _keys_by_id(ids: Iterable[int]) -> dict[int, bytes | None]:
    from eventlog.models import PersonKey

    ids = set(ids)
    if not ids:
        return {}
    return {
        pk: unwrap_key(token)
        for pk, token in PersonKey.objects.filter(pk__in=ids).values_list("pk", "key")
    }


# --- Sealing (on the way in) and revealing (on the way out) ----------------------------
def _markers(value: Any) -> Iterable[Personal]:
    if isinstance(value, Personal):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _markers(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _markers(item)


def _encrypt(key_id: int, key: bytes, value: str) -> dict[str, Any]:
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, value.encode(), ASSOCIATED_DATA)
    return {ENVELOPE: key_id, CIPHERTEXT: base64.b64encode(nonce + sealed).decode()}


# The keys loaded for a batch of events about to be inserted (``keys_loaded``).
_loaded: ContextVar[tuple[dict[str, tuple[int, bytes]], dict[int, bytes | None]] | None] = (
    ContextVar("eventlog_personal_keys", default=None)
)


@contextmanager
def keys_loaded(payloads: Iterable[Any]) -> Iterator[None]:
    """Within the block, sealing these payloads needs no query: their persons' keys
    are loaded (and created) at once, for a whole ``bulk_create``."""
    markers = [m for payload in payloads for m in _markers(payload)]
    if not markers:
        yield
        return
    token = _loaded.set(
        (
            _keys_for(m.person for m in markers if m.key_id is None and m.person),
            _keys_by_id(m.key_id for m in markers if m.key_id is not None),
        )
    )
    try:
        yield
    finally:
        _loaded.reset(token)


def seal(value: Any) -> Any:
    """``value`` with each ``Personal`` marker replaced by its encrypted envelope."""
    markers = list(_markers(value))
    if not markers:
        return value
    by_person, by_id = _loaded.get() or ({}, {})
    persons = {m.person for m in markers if m.key_id is None and m.person}
    ids = {m.key_id for m in markers if m.key_id is not None}
    if not persons <= by_person.keys():
        by_person = _keys_for(persons)
    if not ids <= by_id.keys():
        by_id = _keys_by_id(ids)
    return _seal(value, by_person, by_id)


def _seal(
    value: Any, by_person: dict[str, tuple[int, bytes]], by_id: dict[int, bytes | None]
) -> Any:
    if isinstance(value, Personal):
        if value.key_id is not None:
            key = by_id.get(value.key_id)
            # A value read back from an erased person's event was already "[erased]":
            # its key is gone, and what is recorded again is that placeholder.
            return _encrypt(value.key_id, key, str(value)) if key else ERASED
        key_id, key = by_person[value.person or ""]
        return _encrypt(key_id, key, str(value))
    if isinstance(value, Mapping):
        return {k: _seal(item, by_person, by_id) for k, item in value.items()}
    if isinstance(value, list | tuple):
        return [_seal(item, by_person, by_id) for item in value]
    return value


def _is_envelope(value: Any) -> bool:
    return isinstance(value, dict) and ENVELOPE in value and CIPHERTEXT in value


def _envelope_keys(value: Any) -> Iterable[int]:
    if _is_envelope(value):
        if isinstance(value[ENVELOPE], int):
            yield value[ENVELOPE]
    elif isinstance(value, dict):
        for item in value.values():
            yield from _envelope_keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _envelope_keys(item)


def _decrypt(envelope: dict[str, Any], keys: dict[int, bytes | None]) -> str:
    key_id = envelope[ENVELOPE]
    if key_id not in keys:  # shredded
        return ERASED
    key = keys[key_id]
    if key is None:  # the key exists, but no key of NIXFLOW_SECRET_KEYS opens it
        return UNREADABLE
    try:
        raw = base64.b64decode(envelope[CIPHERTEXT])
        plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], ASSOCIATED_DATA)
        return Personal(plain.decode(), key_id=key_id)
    except (InvalidTag, ValueError, TypeError):
        return UNREADABLE


def _reveal(value: Any, keys: dict[int, bytes | None]) -> Any:
    if _is_envelope(value):
        return _decrypt(value, keys)
    if isinstance(value, dict):
        return {k: _reveal(item, keys) for k, item in value.items()}
    if isinstance(value, list):
        return [_reveal(item, keys) for item in value]
    return value


def reveal_payloads(payloads: list[Any]) -> list[Any]:
    """The payloads with their envelopes decrypted (``ERASED`` where the key is gone):
    one query for the keys of all of them."""
    keys = _keys_by_id(k for payload in payloads for k in _envelope_keys(payload))
    return [_reveal(payload, keys) for payload in payloads]


def reveal(events: Iterable[Any]) -> None:
    """Decrypt the payloads of these ``EventLog`` rows in place (one query for keys)."""
    events = [event for event in events if "payload" in event.__dict__]
    for event, payload in zip(
        events, reveal_payloads([event.payload for event in events]), strict=True
    ):
        event.payload = payload


class PersonalJSONField(models.JSONField):
    """A JSON payload whose ``personal`` markers are stored encrypted (see the module).

    Decrypting on the way out is the queryset's job (``EventLogQuerySet``), so that the
    keys of a whole page are loaded in one query rather than one per row.
    """

    def get_prep_value(self, value: Any) -> Any:
        return super().get_prep_value(seal(value))


# --- Erasure and export ----------------------------------------------------------------
def shred(person: str) -> int:
    """Make every personal value of ``person`` in the log unreadable, for good: delete
    their key(s). The events themselves are not touched (they cannot be), so the log
    still verifies. Returns the number of keys deleted (0: nothing was recorded)."""
    from eventlog.models import PersonKey

    deleted, _ = PersonKey.objects.filter(person_ref=person_ref(person)).delete()
    return deleted


def key_ids_of(person: str) -> list[int]:
    from eventlog.models import PersonKey

    return list(
        PersonKey.objects.filter(person_ref=person_ref(person)).values_list("pk", flat=True)
    )


def events_about(person: str, *, actor_ids: Iterable[int] = ()) -> models.QuerySet[Any]:
    """The events that hold personal data of ``person`` (an envelope under their key),
    and those whose actor is one of ``actor_ids`` (their user accounts), oldest first.

    A scan of the log: envelopes may sit anywhere in a payload, and an export is rare
    enough not to justify an index that every event insert would pay for.
    """
    from eventlog.models import EventLog

    condition = models.Q(pk__in=[])
    key_ids = key_ids_of(person)
    if key_ids:
        condition |= models.Q(
            RawSQL(
                "jsonb_path_exists(payload, 'lax $.**.\"$personal\" ? (@ == $k[*])', "
                "jsonb_build_object('k', %s::jsonb))",
                [_json_list(key_ids)],
                output_field=models.BooleanField(),
            )
        )
    actor_ids = list(actor_ids)
    if actor_ids:
        condition |= models.Q(actor_id__in=actor_ids)
    return EventLog.objects.filter(condition).order_by("id")


def _json_list(values: list[int]) -> str:
    return "[" + ",".join(str(int(v)) for v in values) + "]"


def legacy_events_mentioning(person: str, *, also: Iterable[str] = ()) -> models.QuerySet[Any]:
    """Events that hold ``person``'s address (or any string of ``also``: a username, a
    name) in plain text, in the payload or as the actor's label: events recorded before
    personal values were encrypted, or by a producer that forgot to mark one. Erasure
    cannot change them; it can only report them. A scan of the log (see events_about)."""
    from eventlog.models import EventLog

    needles = [normalize(person), *(s.strip() for s in also if s and s.strip())]
    as_text = Cast("payload", models.TextField())
    condition = models.Q(pk__in=[])
    for needle in needles:
        condition |= models.Q(actor_label__iexact=needle)
        # The payload's JSON text: quotes and backslashes appear escaped in it.
        escaped = needle.replace("\\", "\\\\").replace('"', '\\"')
        condition |= models.Q(payload_text__icontains=escaped)
    return EventLog.objects.alias(payload_text=as_text).filter(condition).order_by("id")
