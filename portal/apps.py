from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Requester portal"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The invitation subscriber, and the mail tasks the worker must know by name.
        from portal import access

        access.register()
