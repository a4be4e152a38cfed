from django.apps import AppConfig


class CsatConfig(AppConfig):
    name = "csat"
    verbose_name = "Satisfaction"
    default_auto_field = "django.db.models.BigAutoField"
