from django.apps import AppConfig


class EventlogConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "eventlog"
    verbose_name = "Event log"

    def ready(self) -> None:
        from eventlog import context  # noqa: F401 -- connects the Celery signals
