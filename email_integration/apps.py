from django.apps import AppConfig


class EmailIntegrationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "email_integration"
    verbose_name = "Email integration"

    def ready(self) -> None:
        from email_integration import automation, outbound

        outbound.register()  # acknowledgements and comment mail, after commit
        automation.register()  # mail that automation rules ask for
