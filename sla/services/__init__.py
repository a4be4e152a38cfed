"""Writes of the SLA app, by sub-domain; import them from here (``sla.services.X``).

- ``policies``: SLA policies with their targets (create, update, delete);
- ``calendars``: business calendars with working intervals and holidays;
- ``breaches``: acknowledging a breach;
- ``monitor``: the monitor's scan (clocks at risk and breached) and the tally fold;
- ``writes``: the policy and calendar services under one calling convention (admin, API).

Clock changes caused by ticket changes are not here but in ``sla.clocks``: they run
inside the ticket service's transaction, as receivers of its event. Event types and
payloads: ``sla.events``.
"""

from sla.services.breaches import breach_acknowledge
from sla.services.calendars import (
    CALENDAR_FIELDS,
    CALENDAR_IN_USE,
    business_calendar_create,
    business_calendar_delete,
    business_calendar_update,
)
from sla.services.monitor import (
    SCAN_BATCH,
    CompactResult,
    ScanResult,
    sla_scan,
    tally_compact,
)
from sla.services.policies import (
    POLICY_FIELDS,
    POLICY_IN_USE,
    sla_policy_create,
    sla_policy_delete,
    sla_policy_update,
)
from sla.services.writes import CALENDAR_WRITES, POLICY_WRITES, ConfigurationWrites

__all__ = [
    "CALENDAR_FIELDS",
    "CALENDAR_IN_USE",
    "CALENDAR_WRITES",
    "POLICY_FIELDS",
    "POLICY_IN_USE",
    "POLICY_WRITES",
    "SCAN_BATCH",
    "CompactResult",
    "ConfigurationWrites",
    "ScanResult",
    "breach_acknowledge",
    "business_calendar_create",
    "business_calendar_delete",
    "business_calendar_update",
    "sla_policy_create",
    "sla_policy_delete",
    "sla_policy_update",
    "sla_scan",
    "tally_compact",
]
