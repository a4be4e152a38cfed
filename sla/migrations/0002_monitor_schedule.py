# Data migration (created with `makemigrations --empty`): the monitor's schedule lives in
# django-celery-beat's tables, so that it exists as soon as `migrate` has run (beat needs
# no further setup) and staff can change or pause it in the admin. It is not in
# CELERY_BEAT_SCHEDULE, which beat would re-apply over such edits on every start.

from django.db import migrations

TASK_NAME = "SLA monitor"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={
            "task": "sla.tasks.sla_scan",
            "interval": every_minute,
            "description": "Marks SLA clocks at risk and breached (manage.py sla_scan).",
        },
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("sla", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(create_schedule, remove_schedule),
    ]
