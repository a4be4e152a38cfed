"""Beat's schedules in the admin, with the roles' permissions."""

from __future__ import annotations

from django.contrib import admin

from nixflow.toolkit.admin import RolePermissionsMixin


# --- Beat's schedules --------------------------------------------------------------------
# The PeriodicTasks that run the desk (SLA monitor, mail polling, event sealing, ...) are
# the desk's admins' to pause and reschedule, and none of the agents' business.
# django-celery-beat's admin classes go by Django's permission rows, which roles don't
# use, so they are registered again with the roles' permissions. Importing its admin
# module here registers its classes first, whatever the order of autodiscovery.
def register_beat_admins() -> None:
    from django_celery_beat import admin as beat_admin
    from django_celery_beat import models as beat_models

    for model, model_admin in (
        (beat_models.PeriodicTask, beat_admin.PeriodicTaskAdmin),
        (beat_models.IntervalSchedule, beat_admin.IntervalScheduleAdmin),
        (beat_models.CrontabSchedule, beat_admin.CrontabScheduleAdmin),
        (beat_models.SolarSchedule, beat_admin.SolarScheduleAdmin),
        (beat_models.ClockedSchedule, beat_admin.ClockedScheduleAdmin),
    ):
        if admin.site.is_registered(model):
            admin.site.unregister(model)
        with_roles = type(
            model_admin.__name__,
            (RolePermissionsMixin, model_admin),
            {"__module__": __name__, "agent_actions": frozenset()},
        )
        admin.site.register(model, with_roles)
