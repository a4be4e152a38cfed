"""Form builder: staff-designed forms, published as pages and through the API, whose
submissions become tickets."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    from nixflow.models import User


class FormsBuilderConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "forms_builder"
    verbose_name = "Form builder"

    def seed_demo(
        self, *, rng: random.Random, requesters: Sequence[User], **context: object
    ) -> str:
        """The demo data hook: ``seed_demo`` calls it on every app config that has one,
        so the core command needn't import feature apps. Returns the line to print."""
        from forms_builder.demo import seed_forms

        created = seed_forms(rng=rng, requesters=requesters)
        if not created:
            return "Demo forms created: none (already there)"
        shown = ", ".join(f"{name} ({n} submissions)" for name, n in created.items())
        return f"Demo forms created: {shown}"

    def ready(self) -> None:
        from forms_builder import notifications

        notifications.register()
