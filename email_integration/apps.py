from django.apps import AppConfig


class EmailIntegrationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "email_integration"
    verbose_name = "Email integration"
