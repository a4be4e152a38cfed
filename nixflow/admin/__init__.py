"""The staff UI: agents work tickets here; admins also design workflows and manage users.

Who may do what follows the user's role (agents are staff without Django permission
rows), and every change to a ticket goes through nixflow.services, as the API's do, so
that history and events are written whichever interface made the change.

One module per part of the desk; importing them registers their ModelAdmins.
"""

from nixflow.admin.beat import register_beat_admins
from nixflow.admin.desk import QueueFilter, register_core_queues
from nixflow.admin.fields import TicketFieldAdmin
from nixflow.admin.records import CommentAdmin, HistoryLogAdmin
from nixflow.admin.saved_views import SavedViewAdmin
from nixflow.admin.tags import DeskSettingsAdmin, TagAdmin
from nixflow.admin.teams import RoutingRuleAdmin, TeamAdmin
from nixflow.admin.tickets import TicketAdmin, WatcherInline
from nixflow.admin.users import UserAdmin
from nixflow.admin.workflows import StageInline, TransitionInline, WorkflowAdmin

register_beat_admins()
register_core_queues()

__all__ = [
    "CommentAdmin",
    "DeskSettingsAdmin",
    "HistoryLogAdmin",
    "QueueFilter",
    "RoutingRuleAdmin",
    "SavedViewAdmin",
    "StageInline",
    "TagAdmin",
    "TeamAdmin",
    "TicketAdmin",
    "TicketFieldAdmin",
    "TransitionInline",
    "UserAdmin",
    "WatcherInline",
    "WorkflowAdmin",
]
