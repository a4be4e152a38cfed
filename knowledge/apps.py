from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from nixflow.models import User


class KnowledgeConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "knowledge"
    verbose_name = "Knowledge base"

    def ready(self) -> None:
        from eventlog.renamed import register_renamed_types
        from knowledge.admin import ticket_suggestions_panel
        from knowledge.events import FORMER_TYPES
        from nixflow.toolkit.panels import register_ticket_panel
        from nixflow.toolkit.queues import register_desk_link

        register_ticket_panel(_("Suggested articles"), ticket_suggestions_panel, order=10)
        register_renamed_types(FORMER_TYPES)
        register_desk_link(
            slug="kb-searches",
            title=_("Knowledge base searches"),
            url_name="admin:knowledge_knowledgesearchhistory_report",
            description=_("What people search for, and the searches that find nothing"),
            order=30,
        )

    def seed_demo(self, *, rng: random.Random, agents: Sequence[User], **context: object) -> str:
        """The demo data hook (see nixflow seed_demo): a few dozen articles, once."""
        from knowledge.demo import seed_articles

        if not agents:
            return "Demo articles created: none (no agent to write them)"
        created = seed_articles(author=agents[0], rng=rng)
        return f"Demo articles created: {created or 'none (already there)'}"
