"""The SLA API under ``/api/sla/``: policies and calendars (configuration, admins write),
clocks and breaches (read-only, agents), and breach acknowledgement."""
