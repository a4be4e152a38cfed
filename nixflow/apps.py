from django.apps import AppConfig


class NixflowConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "nixflow"
    verbose_name = "NixFlow service desk"

    def ready(self) -> None:
        from nixflow.platform import checks  # noqa: F401 -- registers the checks
