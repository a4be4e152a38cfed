from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from eventlog.models import EventLog
        from eventlog.services import events_recorded
        from webhooks import receivers
        from webhooks.models import Endpoint

        # Deliveries are written in the transaction that records the events.
        events_recorded.connect(
            receivers.on_events_recorded, sender=EventLog, dispatch_uid="webhooks.deliveries"
        )

        # Any write to an endpoint, services or not (a shell, a fixture), clears the
        # endpoint cache of this process.
        def forget(**kwargs: Any) -> None:
            receivers.forget_on_commit()

        post_save.connect(forget, sender=Endpoint, dispatch_uid="webhooks.forget_saved")
        post_delete.connect(forget, sender=Endpoint, dispatch_uid="webhooks.forget_deleted")
