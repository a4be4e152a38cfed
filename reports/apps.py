from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Reports"
    default_auto_field = "django.db.models.BigAutoField"

    def seed_demo(self, *, rng: random.Random, requesters: Sequence[Any], **context: object) -> str:
        """The demo data hook (see nixflow seed_demo): 90 days of what the reports read."""
        from reports.demo import seed_history

        return seed_history(rng=rng, requesters=requesters)

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from nixflow.toolkit.queues import register_desk_link

        # The desk's "Service levels and reports" links, beside the SLA dashboard's.
        register_desk_link(
            slug="reports",
            title=_("Reports"),
            url_name="reports_index",
            description=_("Volume, backlog, people, satisfaction, self-service, mail health"),
            order=20,
        )
