from __future__ import annotations

import random

from django.apps import AppConfig


class CsatConfig(AppConfig):
    name = "csat"
    verbose_name = "Satisfaction"
    default_auto_field = "django.db.models.BigAutoField"

    def seed_demo(self, *, rng: random.Random, **context: object) -> str:
        """The demo data hook (see nixflow seed_demo): the resolved demo tickets' surveys
        as mailed when they were resolved, most of them answered."""
        from csat.demo import seed_ratings
        from csat.models import Rating

        if Rating.objects.exists():
            return "Satisfaction ratings created: none (already there)"
        surveys, rated = seed_ratings(rng=rng)
        return f"Satisfaction surveys made past: {surveys} ({rated} answered)"

    def ready(self) -> None:
        from csat import panels, receivers
        from nixflow.events import ticket_event

        # Surveys are armed and cancelled inside the ticket's transaction.
        ticket_event.connect(receivers.on_ticket_event, dispatch_uid="csat.surveys")
        panels.register()
