"""Who a data-subject request is about, and what an erasure collects as it runs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from nixflow.models import Ticket, User

ERASED = "[erased]"
# A name shorter than this is not replaced in other people's text: "Al" would eat words.
MIN_NAME_CHARS = 3


def normalize_address(address: str) -> str:
    return address.strip().lower()


@dataclass
class Person:
    """The data subject: an address, and the user it belongs to if there is one.

    ``identifiers`` are the strings that name them (address, full name, username, and
    the name's parts), longest first so "Zelda Quartermain" is replaced before
    "Zelda". The parts of a name and a plain username are replaced only on tickets the
    person took part in (``local``): a first name alone is too common to remove from
    the whole desk.
    """

    email: str
    user: User | None
    ticket_ids: set[int] = field(default_factory=set)

    @classmethod
    def find(cls, address: str) -> Person:
        email = normalize_address(address)
        user = User.objects.filter(email__iexact=email).first()
        person = cls(email=email, user=user)
        if user is not None:
            person.ticket_ids = set(
                Ticket.objects.filter(
                    Q(requester=user) | Q(watchers__user=user) | Q(comments__author=user)
                ).values_list("pk", flat=True)
            )
        return person

    @property
    def user_id(self) -> int | None:
        return self.user.pk if self.user is not None else None

    @property
    def full_name(self) -> str:
        if self.user is None:
            return ""
        return self.user.get_full_name().strip()

    @property
    def global_identifiers(self) -> list[str]:
        """Replaced wherever they appear: the address, the full name, and the username
        when it is an address too (a plain username like "agent" is a word)."""
        found = {self.email}
        if self.user is not None:
            found.add(self.full_name)
            if "@" in self.user.username:
                found.add(self.user.username)
        return _longest_first(found)

    @property
    def local_identifiers(self) -> list[str]:
        """Also replaced on the person's own tickets: each part of their name."""
        found = set(self.global_identifiers)
        if self.user is not None:
            found.update([self.user.first_name.strip(), self.user.last_name.strip()])
            found.add(self.user.username)
            found.add(self.email.split("@")[0])
        return _longest_first(found)

    def mentions(self, field_name: str, *, local: bool = False) -> Q:
        """Rows whose ``field_name`` contains one of the identifiers."""
        condition = Q()
        names = self.local_identifiers if local else self.global_identifiers
        for name in names:
            condition |= Q(**{f"{field_name}__icontains": name})
        return condition

    def scrub(self, text: str, *, local: bool = False) -> str:
        """``text`` with every mention of the person replaced by ``[erased]``."""
        if not text:
            return text
        return _pattern(tuple(self.local_identifiers if local else self.global_identifiers)).sub(
            ERASED, text
        )

    def scrub_json(self, value: Any, *, local: bool = False) -> Any:
        if isinstance(value, str):
            return self.scrub(value, local=local)
        if isinstance(value, list):
            return [self.scrub_json(item, local=local) for item in value]
        if isinstance(value, dict):
            return {
                self.scrub(str(key), local=local): self.scrub_json(item, local=local)
                for key, item in value.items()
            }
        return value

    def is_address(self, address: str) -> bool:
        return normalize_address(address) == self.email


def _longest_first(names: Iterable[str]) -> list[str]:
    kept = {name for name in names if len(name) >= MIN_NAME_CHARS}
    return sorted(kept, key=lambda name: (-len(name), name))


_PATTERNS: dict[tuple[str, ...], re.Pattern[str]] = {}


def _pattern(names: tuple[str, ...]) -> re.Pattern[str]:
    pattern = _PATTERNS.get(names)
    if pattern is None:
        # Names match as whole words (not "Ann" in "Annual"); addresses anywhere.
        alternatives = [
            re.escape(name) if "@" in name else rf"(?<!\w){re.escape(name)}(?!\w)" for name in names
        ]
        pattern = re.compile("|".join(alternatives) or r"(?!x)x", re.IGNORECASE)
        _PATTERNS.clear()
        _PATTERNS[names] = pattern
    return pattern


@dataclass
class Erasure:
    """What an erasure collects while its sources run, inside its transaction: the
    counts per source, the files to delete once it commits, the tickets whose search
    documents must be rewritten."""

    counts: dict[str, int] = field(default_factory=dict)
    files: list[tuple[Any, str]] = field(default_factory=list)
    reindex: set[int] = field(default_factory=set)
    # Events recorded before per-person encryption that still name the person: the log
    # cannot be rewritten, so they are counted and reported, never claimed erased.
    legacy_events: int = 0

    def delete_file(self, file: Any) -> None:
        """Delete a FieldFile's stored file after commit (through its storage, so S3
        works as the file system does)."""
        if file and file.name:
            self.files.append((file.storage, file.name))
