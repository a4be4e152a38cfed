from django.apps import AppConfig


class IncidentConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tests.incident"
    label = "incident"

    def ready(self) -> None:
        # A subscriber for the end-to-end test of the worker: it answers each comment
        # event with an event of its own, written in the delivery's transaction.
        from eventlog.services import event_record
        from eventlog.subscribers import subscribe

        @subscribe("ticket.commented", name="incident.echo")
        def echo(event: object) -> None:
            event_record(type="incident.echoed", subject=event, actor=None)
