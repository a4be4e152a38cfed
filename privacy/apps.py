"""Data-subject requests: export everything the desk holds about a person, or erase it."""

from __future__ import annotations

import importlib
import importlib.util

from django.apps import AppConfig, apps


class PrivacyConfig(AppConfig):
    name = "privacy"
    verbose_name = "Data-subject requests"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Each installed app with a module in privacy/sources registers what it holds
        # (privacy.registry); an app that is removed takes its source with it.
        for config in apps.get_app_configs():
            module = f"privacy.sources.{config.label}"
            if importlib.util.find_spec(module) is not None:
                importlib.import_module(module)
        importlib.import_module("privacy.sources.accounts")
