"""The core: the user record, tickets they requested or watch, what they wrote."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group

from nixflow.models import (
    Attachment,
    Comment,
    HistoryLog,
    SavedView,
    TeamMembership,
    Ticket,
    TicketPresence,
    TicketWatcher,
    User,
)
from nixflow.search import refresh_documents
from privacy import registry
from privacy.person import ERASED, Erasure, Person
from privacy.registry import Export, ExportFile
from privacy.sources.common import iso, scrub_json_rows, scrub_rows

# History rows of these fields hold text the requester wrote.
WRITTEN_FIELDS = ("title", "description")


def export(person: Person) -> Export:
    user = person.user
    if user is None:
        return Export(data={"user": None})
    tickets = Ticket.objects.filter(requester=user).select_related("stage").order_by("pk")
    comments = (
        Comment.objects.filter(author=user).select_related("ticket").order_by("created", "pk")
    )
    attachments = Attachment.objects.filter(comment__author=user).order_by("pk")
    data: dict[str, Any] = {
        "user": {
            "id": user.pk,
            "username": user.username,
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "role": user.role,
            "language": user.language,
            "time_zone": user.time_zone,
            "is_active": user.is_active,
            "date_joined": iso(user.date_joined),
            "last_login": iso(user.last_login),
        },
        "tickets_requested": [
            {
                "key": ticket.key,
                "title": ticket.title,
                "description": ticket.description,
                "stage": ticket.stage.name,
                "priority": ticket.priority,
                "source": ticket.source,
                "created": iso(ticket.created),
                "resolved_at": iso(ticket.resolved_at),
                "custom_fields": ticket.custom_fields,
                "public_conversation": [
                    {
                        "author_is_requester": comment.author_id == user.pk,
                        "body": comment.body,
                        "created": iso(comment.created),
                    }
                    for comment in ticket.comments.filter(is_internal=False).order_by(
                        "created", "pk"
                    )
                ],
            }
            for ticket in tickets
        ],
        "comments_written": [
            {
                "ticket": comment.ticket.key,
                "body": comment.body,
                "internal": comment.is_internal,
                "created": iso(comment.created),
            }
            for comment in comments
        ],
        "attachments": [
            {
                "comment_id": attachment.comment_id,
                "filename": attachment.filename,
                "content_type": attachment.content_type,
                "size": attachment.size,
                "archive_path": f"files/tickets/{attachment.pk}-{attachment.filename}",
            }
            for attachment in attachments
        ],
        "tickets_watched": sorted(
            Ticket.key_for(pk)
            for pk in TicketWatcher.objects.filter(user=user).values_list("ticket_id", flat=True)
        ),
        "history_by_them": [
            {"ticket_id": row.ticket_id, "field": row.field, "created": iso(row.created)}
            for row in HistoryLog.objects.filter(actor=user).order_by("pk")
        ],
    }
    files = [
        ExportFile(
            storage=attachment.file.storage,
            name=attachment.file.name,
            archive_name=f"files/tickets/{attachment.pk}-{attachment.filename}",
        )
        for attachment in attachments
        if attachment.file
    ]
    return Export(data=data, files=files)


def erase(person: Person, erasure: Erasure) -> int:
    changed = 0
    tickets = person.ticket_ids
    user = person.user
    if user is not None:
        own = Ticket.objects.filter(requester=user)
        own_ids = set(own.values_list("pk", flat=True))
        changed += own.update(title=ERASED, description=ERASED)
        changed += scrub_json_rows(Ticket.objects.filter(pk__in=own_ids), person, ["custom_fields"])
        written = Comment.objects.filter(author=user)
        erasure.reindex.update(written.values_list("ticket_id", flat=True))
        changed += written.exclude(body=ERASED).update(body=ERASED)
        for attachment in Attachment.objects.filter(comment__author=user):
            erasure.delete_file(attachment.file)
            attachment.delete()
            changed += 1
        changed += HistoryLog.objects.filter(
            ticket_id__in=own_ids, field__in=WRITTEN_FIELDS
        ).update(old_value=ERASED, new_value=ERASED)
        erasure.reindex.update(own_ids)
    # Other people's words on the person's tickets lose the person's name in any form;
    # elsewhere on the desk, their full name and address.
    texts = ["title", "description"]
    changed += scrub_rows(
        Ticket.objects.filter(pk__in=tickets), person, texts, local=True, touched=erasure.reindex
    )
    changed += scrub_rows(Ticket.objects.all(), person, texts, touched=erasure.reindex)
    comments_here = Comment.objects.filter(ticket_id__in=tickets)
    changed += scrub_rows(
        comments_here, person, ["body"], local=True, touched=erasure.reindex, key="ticket_id"
    )
    changed += scrub_rows(
        Comment.objects.all(), person, ["body"], touched=erasure.reindex, key="ticket_id"
    )
    values = ["old_value", "new_value"]
    changed += scrub_rows(
        HistoryLog.objects.filter(ticket_id__in=tickets), person, values, local=True
    )
    changed += scrub_rows(HistoryLog.objects.all(), person, values)
    if user is not None:
        changed += TicketWatcher.objects.filter(user=user).delete()[0]
        changed += TicketPresence.objects.filter(user=user).delete()[0]
        changed += TeamMembership.objects.filter(user=user).delete()[0]
        changed += SavedView.objects.filter(owner=user).delete()[0]
        changed += _anonymize_user(user)
    refresh_documents(erasure.reindex)
    return changed


def _anonymize_user(user: User) -> int:
    """The user row stays, as the placeholder their tickets, comments and events point
    to: no name, no address, no password, no way to sign in."""
    if user.username == placeholder_username(user.pk) and not user.email:
        return 0
    user.username = placeholder_username(user.pk)
    user.email = ""
    user.first_name = ""
    user.last_name = ""
    user.set_unusable_password()
    user.is_active = False
    user.is_staff = False
    user.is_superuser = False
    user.last_login = None
    user.language = ""
    user.time_zone = ""
    user.save()
    user.groups.set(Group.objects.none())
    user.user_permissions.clear()
    return 1


def placeholder_username(pk: int) -> str:
    return f"erased-{pk}"


registry.register(
    "tickets",
    models=[
        User,
        Ticket,
        Comment,
        Attachment,
        TicketWatcher,
        HistoryLog,
        TicketPresence,
        TeamMembership,
        SavedView,
    ],
    exporter=export,
    eraser=erase,
    order=90,
    description="The user record, tickets requested, comments written and their files, "
    "watched tickets, ticket history.",
)
