from django.apps import AppConfig


class NixflowConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "nixflow"
    verbose_name = "NixFlow service desk"
