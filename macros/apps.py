from __future__ import annotations

from django.apps import AppConfig


class MacrosConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "macros"
    verbose_name = "Macros"

    def ready(self) -> None:
        # The core imports no feature app: macros offer their composer tool and their
        # ticket-list action through the toolkit's registries.
        from macros import tools

        tools.register()
