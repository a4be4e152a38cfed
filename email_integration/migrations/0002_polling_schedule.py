# Data migration (created with `makemigrations --empty`): the mail poller's schedule
# lives in django-celery-beat's tables, so it exists as soon as `migrate` has run and
# staff can change or pause it in the admin (see sla 0002 for why not
# CELERY_BEAT_SCHEDULE). Each account's own poll interval is honoured by the task.

from django.db import migrations

TASK_NAME = "Mail polling"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={
            "task": "email_integration.tasks.poll_due_accounts",
            "interval": every_minute,
            "description": "Polls the IMAP/POP3 accounts whose interval has passed.",
        },
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("email_integration", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(create_schedule, remove_schedule),
    ]
