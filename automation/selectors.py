"""Reads of rules: the active rules of a trigger (what the engine runs on every event),
and lists for the admin and the API."""

from __future__ import annotations

import time
import uuid

from django.core.cache import cache
from django.db import transaction
from django.db.models import QuerySet

from automation.models import Rule

# The active rules of every trigger, loaded once per process and used until a rule
# changes. Every event of a trigger needs them: a query per event would cost more than
# evaluating 100 rules in memory (``ticket_create`` makes about a dozen queries; one
# more is several per cent of it). So a token in the shared cache names the rules' state:
# every write of a rule (``post_save``/``post_delete``, wired in ``automation.apps``)
# replaces it, once at once and once after commit, and a process whose token differs
# loads the rules again. A change written around the model's save (a queryset
# ``update``) sends no signal: a process reloads anyway after ``RELOAD_SECONDS``.
GENERATION_KEY = "automation:rules:generation"
RELOAD_SECONDS = 60.0
_loaded: tuple[str, float, dict[str, list[Rule]]] = ("", 0.0, {})


def rules_changed() -> None:
    """Tell every process that the rules changed (now, and again after the commit that
    makes the change visible to them: a process that loaded in between saw the rows
    before the change)."""
    cache.set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
    transaction.on_commit(lambda: cache.set(GENERATION_KEY, uuid.uuid4().hex, timeout=None))


def _generation() -> str:
    token = cache.get(GENERATION_KEY)
    if token is None:
        token = uuid.uuid4().hex
        cache.add(GENERATION_KEY, token, timeout=None)
        token = cache.get(GENERATION_KEY, token)
    return str(token)


def rules_active(trigger: str) -> list[Rule]:
    """The active rules of ``trigger`` in the order they run (position, then id). The
    instances are shared: read them, never change them."""
    global _loaded  # noqa: PLW0603 -- the process's cache, replaced whole (thread-safe)
    token = _generation()
    if token != _loaded[0] or time.monotonic() - _loaded[1] > RELOAD_SECONDS:
        grouped: dict[str, list[Rule]] = {}
        rules = (
            Rule.objects.filter(is_active=True)
            .select_related("calendar")
            .order_by("trigger", "position", "id")
        )
        for rule in rules:
            grouped.setdefault(rule.trigger, []).append(rule)
        _loaded = (token, time.monotonic(), grouped)
    return _loaded[2].get(trigger, [])


def rule_list(*, trigger: str | None = None) -> QuerySet[Rule]:
    """Rules in the order the engine runs them, by trigger."""
    rules = Rule.objects.select_related("calendar", "created_by").order_by(
        "trigger", "position", "id"
    )
    return rules.filter(trigger=trigger) if trigger else rules


def rule_get(*, pk: int) -> Rule | None:
    return rule_list().filter(pk=pk).first()
