from django.apps import AppConfig


class IncidentConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tests.incident"
    label = "incident"
