"""Core models of the service desk: users, workflows, tickets and what hangs off them, and
how the desk organises its work (teams, routing, tags, saved views). One module per
part; everything is importable from ``nixflow.models`` as before."""

from nixflow.models.conversation import LINK_LABELS, LinkKind, TicketLink, TicketPresence
from nixflow.models.desk import DESK_SETTINGS_ID, DeskSettings
from nixflow.models.fields import FIELD_NAME_PATTERN, FieldType, TicketField
from nixflow.models.teams import (
    AssignmentMode,
    RoutingRule,
    SavedView,
    Tag,
    Team,
    TeamMembership,
)
from nixflow.models.tickets import (
    PRIORITY_RANK,
    TICKET_KEY_PATTERN,
    TICKET_KEY_PREFIX,
    Attachment,
    Comment,
    HistoryLog,
    Priority,
    Source,
    Ticket,
    TicketQuerySet,
    TicketWatcher,
    attachment_path,
    priority_rank,
)
from nixflow.models.users import Availability, NixflowUserManager, Role, User
from nixflow.models.workflows import DONE_CATEGORIES, Stage, StageCategory, Transition, Workflow

__all__ = [
    "DESK_SETTINGS_ID",
    "DONE_CATEGORIES",
    "FIELD_NAME_PATTERN",
    "LINK_LABELS",
    "PRIORITY_RANK",
    "TICKET_KEY_PATTERN",
    "TICKET_KEY_PREFIX",
    "AssignmentMode",
    "Attachment",
    "Availability",
    "Comment",
    "DeskSettings",
    "FieldType",
    "HistoryLog",
    "LinkKind",
    "NixflowUserManager",
    "Priority",
    "Role",
    "RoutingRule",
    "SavedView",
    "Source",
    "Stage",
    "StageCategory",
    "Tag",
    "Team",
    "TeamMembership",
    "Ticket",
    "TicketField",
    "TicketLink",
    "TicketPresence",
    "TicketQuerySet",
    "TicketWatcher",
    "Transition",
    "User",
    "Workflow",
    "attachment_path",
    "priority_rank",
]
