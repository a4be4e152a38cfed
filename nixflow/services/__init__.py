"""Writes of the core app. Every interface (admin, API, mail, forms, tasks) calls these.

Each service is keyword-only and typed, checks who may act, validates, locks the rows
concurrent edits would fight over, and records one event in the same transaction (the
types and payloads are in ``nixflow.events``). By subject:

- ``users``: ``user_create``, ``user_update``, ``user_set_time_zone``,
  ``requester_get_or_create``;
- ``workflows``: ``workflow_create``, ``workflow_update``, ``workflow_delete`` (stages
  and transitions as part of the workflow's change);
- ``tickets``: ``ticket_create``, ``ticket_update``, ``ticket_transition``,
  ``ticket_assign``, ``ticket_delete``, ``ticket_watch``, ``ticket_unwatch`` and
  ``comment_create``;
- ``presence``: ``presence_beat``, ``presence_others``, ``presence_leave``,
  ``presence_sweep`` (who has a ticket open: the collision warning); with the tickets,
  ``ticket_check_version`` and ``StaleTicketError`` (the API's If-Match) and ``touch``
  (a change's new version, for services that save the ticket);
- ``merge`` and ``links``: ``ticket_merge`` (duplicates into one ticket),
  ``ticket_follow_merges``, ``ticket_link``, ``ticket_unlink``, ``ticket_links``;
- ``replies``: ``ticket_reply`` (the reply composer: a comment and a stage change in one
  transaction; ``StaleReply``, ``ReopenQuestion`` when the agent must decide first);
- ``teams``: ``team_create``, ``team_update``, ``team_delete`` (members as part of the
  team's change), ``routing_rule_create``, ``routing_rule_update``,
  ``routing_rule_delete``, ``user_set_availability``, ``ticket_set_team``; routing
  (``routing.route``) and auto-assignment (``assignment``) run inside ``ticket_create``
  and on the ticket events that free an agent's capacity;
- ``fields``: ``ticket_fields_set`` (agents: custom field values),
  ``ticket_field_create``, ``ticket_field_update``, ``ticket_field_delete`` (admins);
- ``tags``: ``ticket_tags_set``, ``ticket_tag_add``, ``ticket_tag_remove`` (agents; new
  names create tags unless the list is locked), ``tag_create``, ``tag_update``,
  ``tag_merge``, ``tag_delete`` (admins) and ``desk_settings_update`` (the lock).

Import them from here (``from nixflow import services``; ``services.ticket_create``).
"""

from nixflow.services.fields import (
    TICKET_FIELD_FIELDS,
    ticket_field_create,
    ticket_field_delete,
    ticket_field_update,
    ticket_fields_set,
)
from nixflow.services.links import ticket_link, ticket_links, ticket_unlink
from nixflow.services.merge import ticket_follow_merges, ticket_merge
from nixflow.services.presence import (
    presence_beat,
    presence_leave,
    presence_others,
    presence_sweep,
)
from nixflow.services.replies import ReopenQuestion, StaleReply, ticket_reply
from nixflow.services.tags import (
    desk_settings_update,
    tag_create,
    tag_delete,
    tag_merge,
    tag_update,
    ticket_tag_add,
    ticket_tag_remove,
    ticket_tags_set,
)
from nixflow.services.teams import (
    ROUTING_RULE_FIELDS,
    TEAM_FIELDS,
    routing_rule_create,
    routing_rule_delete,
    routing_rule_update,
    team_create,
    team_delete,
    team_update,
    ticket_set_team,
    user_set_availability,
)
from nixflow.services.tickets import (
    TICKET_FIELDS_FOR_AGENTS,
    TICKET_FIELDS_FOR_REQUESTERS,
    StaleTicketError,
    comment_create,
    ticket_assign,
    ticket_check_version,
    ticket_create,
    ticket_delete,
    ticket_transition,
    ticket_unwatch,
    ticket_update,
    ticket_watch,
    touch,
)
from nixflow.services.users import (
    USER_FIELDS,
    requester_get_or_create,
    user_create,
    user_set_time_zone,
    user_update,
)
from nixflow.services.workflows import (
    WORKFLOW_FIELDS,
    StageRef,
    StageSpec,
    TransitionSpec,
    workflow_create,
    workflow_delete,
    workflow_update,
)

__all__ = [
    "ROUTING_RULE_FIELDS",
    "TEAM_FIELDS",
    "TICKET_FIELDS_FOR_AGENTS",
    "TICKET_FIELDS_FOR_REQUESTERS",
    "TICKET_FIELD_FIELDS",
    "USER_FIELDS",
    "WORKFLOW_FIELDS",
    "ReopenQuestion",
    "StageRef",
    "StageSpec",
    "StaleReply",
    "StaleTicketError",
    "TransitionSpec",
    "comment_create",
    "desk_settings_update",
    "presence_beat",
    "presence_leave",
    "presence_others",
    "presence_sweep",
    "requester_get_or_create",
    "routing_rule_create",
    "routing_rule_delete",
    "routing_rule_update",
    "tag_create",
    "tag_delete",
    "tag_merge",
    "tag_update",
    "team_create",
    "team_delete",
    "team_update",
    "ticket_assign",
    "ticket_check_version",
    "ticket_create",
    "ticket_delete",
    "ticket_field_create",
    "ticket_field_delete",
    "ticket_field_update",
    "ticket_fields_set",
    "ticket_follow_merges",
    "ticket_link",
    "ticket_links",
    "ticket_merge",
    "ticket_reply",
    "ticket_set_team",
    "ticket_tag_add",
    "ticket_tag_remove",
    "ticket_tags_set",
    "ticket_transition",
    "ticket_unlink",
    "ticket_unwatch",
    "ticket_update",
    "ticket_watch",
    "touch",
    "user_create",
    "user_set_availability",
    "user_set_time_zone",
    "user_update",
    "workflow_create",
    "workflow_delete",
    "workflow_update",
]
