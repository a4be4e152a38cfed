# Data migration (created with `makemigrations --empty`): the scan of time rules lives in
# django-celery-beat's tables, as the SLA monitor does (sla 0002), so it exists as soon as
# `migrate` has run and staff can change or pause it in the admin.

from django.db import migrations

TASK_NAME = "Automation time rules"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={
            "task": "automation.tasks.time_rules_scan",
            "interval": every_minute,
            "description": "Acts on the tickets whose time rules have come due.",
        },
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("automation", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(create_schedule, remove_schedule),
    ]
