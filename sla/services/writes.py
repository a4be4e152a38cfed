"""One calling convention for the create, update and delete services of policies and
calendars, for the two interfaces that handle both alike: the admin's
``ConfigurationAdmin`` pages and the API's ``ConfigurationViewSet``. Each entity names
its writes once, here (as ``knowledge.services.taxonomy`` does for categories and tags).

``rows`` are the nested row lists by service argument (``targets``; ``intervals``,
``holidays``); on an update a list left out or None keeps the stored rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Model

from sla.services.calendars import (
    business_calendar_create,
    business_calendar_delete,
    business_calendar_update,
)
from sla.services.policies import sla_policy_create, sla_policy_delete, sla_policy_update


@dataclass(frozen=True)
class ConfigurationWrites:
    create: Callable[..., Model]  # (*, actor, data, rows) -> the new row
    update: Callable[..., Model]  # (*, row, actor, data, rows) -> the row
    delete: Callable[..., None]  # (*, row, actor)


POLICY_WRITES = ConfigurationWrites(
    create=lambda *, actor, data, rows: sla_policy_create(actor=actor, **data, **rows),
    update=lambda *, row, actor, data, rows: sla_policy_update(
        policy=row, actor=actor, data=data, **rows
    ),
    delete=lambda *, row, actor: sla_policy_delete(policy=row, actor=actor),
)
CALENDAR_WRITES = ConfigurationWrites(
    create=lambda *, actor, data, rows: business_calendar_create(actor=actor, **data, **rows),
    update=lambda *, row, actor, data, rows: business_calendar_update(
        calendar=row, actor=actor, data=data, **rows
    ),
    delete=lambda *, row, actor: business_calendar_delete(calendar=row, actor=actor),
)
