"""Tags on tickets, the tag list, and the desk settings that lock it.

Agents tag tickets (``ticket_tags_set``, ``ticket_tag_add``, ``ticket_tag_remove``): names
are trimmed and matched to existing tags regardless of case ("vpn" is the tag "VPN");
a name no tag has creates the tag on the fly, unless an admin locked the list
(``DeskSettings.tags_locked``), when the change is refused naming the unknown tags.
Each tagging is a ticket service like the others: the ticket's row locked, one history
row ("tags", the sorted lists before and after) and one ``ticket.tags_changed`` event,
nothing when the tags stay as they were. Admins keep the list: ``tag_create``,
``tag_update`` (rename), ``tag_merge``, ``tag_delete``, each with its ``tag.*`` event.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet, Value
from django.db.models.functions import Lower
from django.utils import timezone

from nixflow import events
from nixflow.models import DESK_SETTINGS_ID, DeskSettings, Tag, Ticket, User
from nixflow.services import tickets as ticket_services
from nixflow.toolkit.auth import require_admin, require_agent
from nixflow.toolkit.services import changes_payload, model_update

TAG_NAME_MAX = Tag._meta.get_field("name").max_length or 50
# A ticket with more is a list nobody reads; also bounds what one request can create.
MAX_TAGS_PER_TICKET = 20
DESK_SETTINGS_FIELDS = frozenset({"tags_locked"})


# --- Names ----------------------------------------------------------------------------------
def _clean_name(raw: str) -> str:
    name = " ".join(str(raw).split())  # trimmed, inner runs of spaces made one
    if not name:
        raise ValidationError({"tags": "A tag needs a name."})
    if "," in name:
        # The admin takes tags as a comma-separated list, and history shows them so.
        raise ValidationError({"tags": f"A tag name cannot contain a comma: {name!r}."})
    if len(name) > TAG_NAME_MAX:
        raise ValidationError(
            {"tags": f"A tag name has at most {TAG_NAME_MAX} characters: {name[:60]!r}…"}
        )
    return name


def clean_tag_names(names: Iterable[str]) -> list[str]:
    """The names trimmed, empty ones dropped, each once regardless of case (the first
    spelling kept), in the order given."""
    seen: dict[str, str] = {}
    for raw in names:
        if not str(raw).strip():
            continue
        name = _clean_name(raw)
        seen.setdefault(name.casefold(), name)
    return list(seen.values())


def split_tag_names(text: str) -> list[str]:
    """A comma-separated list as the admin's inputs take it ("vpn, Billing")."""
    return clean_tag_names(text.split(","))


def tags_named(names: Sequence[str]) -> QuerySet[Tag]:
    """Existing tags with these names, in any case. Compared as lower(name) =
    lower(%s), the expression of the tag's unique index (PostgreSQL lower-cases both
    sides the same way, which Python's lower() would not always match)."""
    if not names:
        return Tag.objects.none()
    match = Q()
    for name in names:
        match |= Q(lower_name=Lower(Value(name)))
    return Tag.objects.annotate(lower_name=Lower("name")).filter(match)


def tags_locked() -> bool:
    return DeskSettings.load().tags_locked


def _display(tags: Iterable[Tag]) -> str:
    return ", ".join(sorted((tag.name for tag in tags), key=str.casefold))


def _resolve(names: Sequence[str], actor: User | None) -> list[Tag]:
    """The tags for ``names``: existing ones matched regardless of case, the others
    created now, or refused when the list is locked."""
    existing = {tag.name.casefold(): tag for tag in tags_named(names)}
    unknown = [name for name in names if name.casefold() not in existing]
    if unknown and tags_locked():
        raise ValidationError(
            {
                "tags": f"The tag list is locked; no tag is named {', '.join(unknown)}. "
                "Pick existing tags, or ask an admin to add these."
            }
        )
    for name in unknown:
        existing[name.casefold()] = _create_on_the_fly(name, actor)
    return [existing[name.casefold()] for name in names]


def _create_on_the_fly(name: str, actor: User | None) -> Tag:
    # Two agents may create the same new tag at once: the unique index on lower(name)
    # lets one insert win; the other's savepoint rolls back and it takes the winner's row
    # (its INSERT waited for that transaction, so the row is committed and visible now).
    try:
        with transaction.atomic():
            tag = Tag.objects.create(name=name, created_by=actor)
    except IntegrityError:
        return tags_named([name]).get()
    events.record_config_event(
        type=events.TAG_CREATED,
        subject=tag,
        actor=actor,
        payload={"name": tag.name, "on_the_fly": True},
    )
    return tag


# --- Tagging tickets ------------------------------------------------------------------------
def _apply(
    ticket: Ticket, actor: User | None, *, add: Sequence[Tag], remove: Sequence[Tag]
) -> Ticket:
    """Give the (locked) ticket ``add`` and take ``remove`` away; history and event."""
    before = list(ticket.tags.all())
    have = {tag.pk for tag in before}
    added = [tag for tag in add if tag.pk not in have]
    removed = [tag for tag in remove if tag.pk in have]
    if not (added or removed):
        return ticket
    gone = {tag.pk for tag in removed}
    after = [tag for tag in before if tag.pk not in gone] + added
    if len(after) > MAX_TAGS_PER_TICKET:
        raise ValidationError(
            {
                "tags": f"A ticket has at most {MAX_TAGS_PER_TICKET} tags; {ticket.key} would have "
                f"{len(after)}."
            }
        )
    ticket.tags.remove(*removed)
    ticket.tags.add(*added)
    now = timezone.now()
    ticket.save(update_fields=ticket_services.touch(ticket, now))
    ticket_services._commit_change(
        ticket=ticket,
        actor=actor,
        event_type=events.TICKET_TAGS_CHANGED,
        changes={"tags": (_display(before), _display(after))},
        at=now,
        payload={
            "added": sorted((tag.name for tag in added), key=str.casefold),
            "removed": sorted((tag.name for tag in removed), key=str.casefold),
        },
    )
    return ticket


def _begin(ticket: Ticket, actor: User | None, *, locked: bool = False) -> Ticket:
    require_agent(actor, "tag tickets")
    ticket_services._require_can_view(actor, ticket)
    return ticket_services._held(ticket, locked=locked)


@transaction.atomic
def ticket_tags_set(*, ticket: Ticket, tags: Sequence[str], actor: User | None) -> Ticket:
    """Make the ticket's tags exactly ``tags`` (names, any case); agents only. Unknown
    names create tags unless the list is locked. Records ``ticket.tags_changed`` when
    the tags changed."""
    names = clean_tag_names(tags)
    ticket = _begin(ticket, actor)
    wanted = _resolve(names, actor)
    keep = {tag.pk for tag in wanted}
    return _apply(
        ticket, actor, add=wanted, remove=[tag for tag in ticket.tags.all() if tag.pk not in keep]
    )


@transaction.atomic
def ticket_tag_add(
    *, ticket: Ticket, tags: Sequence[str], actor: User | None, locked: bool = False
) -> Ticket:
    """Add ``tags`` to the ticket's (its others stay); agents only. As ticket_tags_set
    (``locked``: see comment_create)."""
    names = clean_tag_names(tags)
    ticket = _begin(ticket, actor, locked=locked)
    return _apply(ticket, actor, add=_resolve(names, actor), remove=[])


@transaction.atomic
def ticket_tag_remove(
    *, ticket: Ticket, tags: Sequence[str], actor: User | None, locked: bool = False
) -> Ticket:
    """Take ``tags`` off the ticket; agents only. Names no tag has, or tags the ticket
    doesn't have, are nothing to remove: never an error, never a new tag."""
    names = clean_tag_names(tags)
    ticket = _begin(ticket, actor, locked=locked)
    return _apply(ticket, actor, add=[], remove=list(tags_named(names)))


# --- The tag list (admins) ------------------------------------------------------------------
def _tag_refusal(error: IntegrityError) -> ValidationError:
    if "nixflow_tag_name_ci_unique" in str(error):
        return ValidationError({"name": "A tag with this name already exists."})
    raise error


def _name_taken(name: str, *, exclude: int | None = None) -> None:
    clash = tags_named([name])
    if exclude is not None:
        clash = clash.exclude(pk=exclude)
    if clash.exists():
        raise ValidationError({"name": f"A tag named {clash[0].name} already exists."})


@transaction.atomic
def tag_create(*, name: str, actor: User | None) -> Tag:
    """Add a tag to the list; admins only. Records ``tag.created``."""
    require_admin(actor, "create tags")
    name = _clean_name(name)
    _name_taken(name)
    try:
        with transaction.atomic():
            tag = Tag.objects.create(name=name, created_by=actor)
    except IntegrityError as error:  # created by someone else since the check
        raise _tag_refusal(error) from error
    events.record_config_event(
        type=events.TAG_CREATED,
        subject=tag,
        actor=actor,
        payload={"name": name, "on_the_fly": False},
    )
    return tag


@transaction.atomic
def tag_update(*, tag: Tag, name: str, actor: User | None) -> Tag:
    """Rename a tag (its tickets keep it); admins only. Changing only the case is a
    rename too. Records ``tag.updated`` when the name changed."""
    require_admin(actor, "rename tags")
    tag = Tag.objects.select_for_update().get(pk=tag.pk)
    name = _clean_name(name)
    _name_taken(name, exclude=tag.pk)
    try:
        with transaction.atomic():
            changes = model_update(instance=tag, data={"name": name}, validate=None)
    except IntegrityError as error:
        raise _tag_refusal(error) from error
    if changes:
        events.record_config_event(
            type=events.TAG_UPDATED,
            subject=tag,
            actor=actor,
            payload={"fields": sorted(changes), "changes": changes_payload(changes)},
        )
    return tag


@transaction.atomic
def tag_delete(*, tag: Tag, actor: User | None) -> None:
    """Delete a tag, taking it off every ticket; admins only. Records ``tag.deleted``
    with how many tickets had it. The tickets' history keeps the name as it was."""
    require_admin(actor, "delete tags")
    # Locked: a tagging that read the tag before this commits waits at its insert (the
    # foreign key check) and then fails rather than point at a deleted tag.
    tag = Tag.objects.select_for_update().get(pk=tag.pk)
    count = Ticket.tags.through.objects.filter(tag=tag).count()
    events.record_config_event(
        type=events.TAG_DELETED,
        subject=tag,
        actor=actor,
        payload={"name": tag.name, "tickets": count},
    )
    tag.delete()


@transaction.atomic
def tag_merge(*, tag: Tag, into: Tag, actor: User | None) -> Tag:
    """Merge ``tag`` into ``into``: each ticket with ``tag`` gets ``into`` instead (its own
    history row and ``ticket.tags_changed`` event, as any tagging), then ``tag`` is
    deleted; admins only. Records ``tag.merged`` on ``tag``. Returns ``into``."""
    require_admin(actor, "merge tags")
    if tag.pk == into.pk:
        raise ValidationError({"into": "A tag cannot be merged into itself."})
    # Both locked, in id order (two merges of the same pair the other way round queue
    # instead of deadlocking); a tagging that read either waits at its insert.
    locked = {t.pk: t for t in Tag.objects.select_for_update().filter(pk__in=[tag.pk, into.pk])}
    if len(locked) != 2:
        raise ValidationError({"into": "One of the tags was deleted meanwhile."})
    tag, into = locked[tag.pk], locked[into.pk]
    tickets = list(Ticket.objects.filter(tags=tag).order_by("pk"))
    for ticket in tickets:
        _apply(ticket_services._lock(ticket), actor, add=[into], remove=[tag])
    events.record_config_event(
        type=events.TAG_MERGED,
        subject=tag,
        actor=actor,
        payload={"name": tag.name, "into_id": into.pk, "into": into.name, "tickets": len(tickets)},
    )
    tag.delete()
    return into


# --- Desk settings --------------------------------------------------------------------------
@transaction.atomic
def desk_settings_update(*, actor: User | None, data: dict[str, Any]) -> DeskSettings:
    """Change the desk settings (``tags_locked``); admins only. Records
    ``desk_settings.updated`` when something changed."""
    require_admin(actor, "change the desk settings")
    unknown = sorted(set(data) - DESK_SETTINGS_FIELDS)
    if unknown:
        raise ValidationError(f"These fields cannot be changed here: {', '.join(unknown)}.")
    # The row exists from the first change on; the lock makes concurrent changes queue.
    settings, _ = DeskSettings.objects.select_for_update().get_or_create(pk=DESK_SETTINGS_ID)
    changes = model_update(
        instance=settings, data=dict(data), also_set={"updated": timezone.now()}, validate=None
    )
    if changes:
        events.record_config_event(
            type=events.DESK_SETTINGS_UPDATED,
            subject=settings,
            actor=actor,
            payload={"fields": sorted(changes), "changes": changes_payload(changes)},
        )
    return settings
