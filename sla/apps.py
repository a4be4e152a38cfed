from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    from nixflow.models import User
    from sla.models import CalendarHoliday, WorkingInterval


class SlaConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "sla"
    verbose_name = "SLA management"

    def seed_demo(self, *, admin: User, requesters: list[User], **context: object) -> str:
        """The demo data hook (see nixflow seed_demo): policies, a calendar and clocks on
        the demo tickets in every state, on the first run."""
        from sla import demo
        from sla.models import SLAPolicy

        if SLAPolicy.objects.exists():
            return "SLA policies created: none (already there)"
        counts = demo.seed_sla(acknowledger=admin, requesters=requesters)
        shown = ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))
        return f"SLA clocks created: {sum(counts.values())} ({shown})"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from nixflow.events import ticket_event
        from sla import clocks, notifications, queues
        from sla.desk import register as register_desk
        from sla.models import CalendarHoliday, WorkingInterval

        # Clocks change inside the ticket's transaction (nixflow/events.py).
        ticket_event.connect(clocks.on_ticket_event, dispatch_uid="sla.clocks")
        notifications.register()
        # The SLA column and filter of the ticket list, the clocks panel of its page.
        register_desk()
        queues.register()  # "At risk" and "Breached" on the desk, the dashboard's link
        # Cached calendar specs are keyed by the calendar's `updated`: touch it when its
        # intervals or holidays change, however they change.
        for model in (WorkingInterval, CalendarHoliday):
            post_save.connect(_touch_calendar, sender=model, dispatch_uid=f"sla.touch.{model}")
            post_delete.connect(
                _touch_calendar, sender=model, dispatch_uid=f"sla.touch.del.{model}"
            )


def _touch_calendar(
    sender: object, instance: WorkingInterval | CalendarHoliday, **kwargs: object
) -> None:
    from django.utils import timezone

    from sla.models import BusinessCalendar

    BusinessCalendar.objects.filter(pk=instance.calendar_id).update(updated=timezone.now())
