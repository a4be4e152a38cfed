"""The ticket list's search box and sidebar filters, each served by an index at a
million tickets (docs/admin-lists.md).

The search used to OR a requester sub-query with the title and description matches:
PostgreSQL cannot combine a sub-plan with bitmap index scans, so it scanned every
ticket. Now the requesters come first, in one indexed query on the user table
(``UPPER(username|email|first_name|last_name) = UPPER(:word)``), and their ids go into
the ticket query as a literal list: each word is then
``UPPER(title) LIKE :w OR UPPER(description) LIKE :w OR requester_id = ANY(:ids)``,
a BitmapOr of the two trigram indexes and ``nf_ticket_requester_created``, and the words
are AND-ed (a BitmapAnd).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from nixflow.models import Role, Stage, StageCategory, Ticket, User
from nixflow.toolkit.changelist import MIN_TEXT_WORD, search_words

# More people than this for one word (a common first name among millions of users) go
# in as a sub-query rather than a literal list of ids.
MAX_LISTED_PEOPLE = 1000


def people_matching(word: str) -> Q:
    """Users whose username, e-mail address, first or last name is ``word`` (any case):
    one query on four UPPER(...) indexes (nixflow 0005 and 0006)."""
    return (
        Q(username__iexact=word)
        | Q(email__iexact=word)
        | Q(first_name__iexact=word)
        | Q(last_name__iexact=word)
    )


def requester_condition(word: str) -> Q | None:
    """Tickets whose requester is ``word``; None when nobody is."""
    people = User.objects.filter(people_matching(word)).order_by()
    ids = list(people.values_list("pk", flat=True)[: MAX_LISTED_PEOPLE + 1])
    if not ids:
        return None
    if len(ids) > MAX_LISTED_PEOPLE:
        return Q(requester__in=people.values("pk"))
    return Q(requester_id__in=ids)


def search_tickets(queryset: QuerySet[Ticket], term: str) -> QuerySet[Ticket]:
    """A key (NF-12) finds its ticket; otherwise every word must be in the title or the
    description, or name the requester (username, e-mail, first or last name).

    Words shorter than three characters only narrow a search that has a longer word
    (the longer word's index finds the rows); alone they match requesters only. An
    e-mail address that is someone's finds their tickets only: matching its many
    trigrams in every text would cost more than the whole rest of the page.
    """
    term = term.strip()
    if not term:
        return queryset
    number = Ticket.number_from_key(term)
    if number is not None:
        return queryset.filter(pk=number)
    words = search_words(term)
    has_long_word = any(len(word) >= MIN_TEXT_WORD for word in words)
    for word in words:
        condition = requester_condition(word)
        if has_long_word and not ("@" in word and condition is not None):
            text = Q(title__icontains=word) | Q(description__icontains=word)
            condition = text if condition is None else text | condition
        if condition is None:
            return queryset.none()
        queryset = queryset.filter(condition)
    return queryset


# --- Sidebar filters ---------------------------------------------------------------------
class StageCategoryFilter(admin.SimpleListFilter):
    """The stage's category (New, Open, Waiting, ...), the same across workflows.

    The ids of the category's stages go into the query as a list, so the planner sees
    ``stage_id = ANY(...)`` on nf_ticket_stage_created instead of a join to stages.
    """

    title = "stage"
    parameter_name = "stage_category"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(value), str(label)) for value, label in StageCategory.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
        category = self.value()
        if not category:
            return queryset
        stages = list(Stage.objects.filter(category=category).values_list("pk", flat=True))
        return queryset.filter(stage_id__in=stages)


class AgentListFilter(admin.RelatedFieldListFilter):
    """Assignee choices: the active agents and admins, by name; not requesters, nor
    accounts that cannot work tickets. A deactivated agent chosen by a link stays
    listed, so that the selection shows."""

    def field_choices(  # type: ignore[override]
        self, field: Any, request: HttpRequest, model_admin: admin.ModelAdmin
    ) -> list[tuple[Any, str]]:
        chosen = [pk for pk in (self.lookup_val or []) if str(pk).isdigit()]
        agents = User.objects.filter(
            Q(is_active=True, role__in=[Role.AGENT, Role.ADMIN]) | Q(pk__in=chosen)
        ).order_by("first_name", "last_name", "username")
        return [(user.pk, user.get_full_name() or user.username) for user in agents]
