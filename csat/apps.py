from django.apps import AppConfig


class CsatConfig(AppConfig):
    name = "csat"
    verbose_name = "Satisfaction"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from csat import panels, receivers
        from nixflow.events import ticket_event

        # Surveys are armed and cancelled inside the ticket's transaction.
        ticket_event.connect(receivers.on_ticket_event, dispatch_uid="csat.surveys")
        panels.register()
