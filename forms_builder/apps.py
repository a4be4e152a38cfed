from django.apps import AppConfig


class FormsBuilderConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "forms_builder"
    verbose_name = "Form builder"
