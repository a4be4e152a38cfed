# Data migration (created with `makemigrations --empty`): the tally's compaction runs
# from django-celery-beat's tables, as the SLA monitor's (sla 0002), so that it exists
# as soon as `migrate` has run and staff can change or pause it in the admin.

from django.db import migrations

TASK_NAME = "Reports tally"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_five, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={
            "task": "reports.tasks.reports_tally_compact",
            "interval": every_five,
            "description": "Folds the rows the triggers appended to the reports' daily tally.",
        },
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0003_report_indexes"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(create_schedule, remove_schedule),
    ]
