from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AutomationConfig(AppConfig):
    name = "automation"
    verbose_name = _("Automation")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from automation import (
            receivers,
            time_rules,  # noqa: F401 -- registers its event subscriber
        )
        from automation.models import Rule
        from eventlog.services import events_recorded
        from nixflow.events import ticket_event

        # Installed after sla and csat: on a ticket event, rules see the SLA clocks and
        # surveys that the change started (automation.receivers lists the triggers).
        ticket_event.connect(receivers.on_ticket_event, dispatch_uid="automation.rules")
        events_recorded.connect(receivers.on_events_recorded, dispatch_uid="automation.rules")
        # Every process's cached rules (automation.selectors.rules_active) follow changes.
        post_save.connect(receivers.on_rule_saved, sender=Rule, dispatch_uid="automation.rules")
        post_delete.connect(receivers.on_rule_saved, sender=Rule, dispatch_uid="automation.rules")
