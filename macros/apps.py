from __future__ import annotations

from django.apps import AppConfig


class MacrosConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "macros"
    verbose_name = "Macros"
