# Data migration (created with `makemigrations --empty`):
#
# 1. Mail account passwords stored before 0004 are plain text: encrypt them with the
#    first key of NIXFLOW_SECRET_KEYS (email_integration/crypto.py). Reversible: the
#    reverse decrypts them back to plain text, so 0004's reverse can shorten the column.
#    Raw SQL on purpose: the historical model's field is the encrypting field, which
#    would try to decrypt the plain values while loading them.
# 2. Queued outbound messages get next_attempt_at (when they were queued), so that the
#    sweeper below sees them.
# 3. The outbound sweeper's schedule, in django-celery-beat's tables like the mail
#    poller's (0002): it re-queues messages left queued (a lost task, a broker outage)
#    or claimed by a worker that died.

from django.db import migrations
from django.db.models import F

from email_integration import crypto

TASK_NAME = "Outbound mail sweeper"
# Constant SQL (no user input in it): the table's name is fixed by 0001.
SELECT = "SELECT id, password FROM email_integration_emailaccount WHERE password <> '' FOR UPDATE"
UPDATE = "UPDATE email_integration_emailaccount SET password = %s WHERE id = %s"


def _rewrite_passwords(schema_editor, convert):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(SELECT)
        for pk, value in cursor.fetchall():
            converted = convert(value)
            if converted != value:
                cursor.execute(UPDATE, [converted, pk])


def _encrypt_plain(value):
    try:
        crypto.decrypt(value)
        return value  # already a token (a re-run after a partial reverse)
    except crypto.SecretUnreadable:
        return crypto.encrypt(value)


def _decrypt_token(value):
    try:
        return crypto.decrypt(value)
    except crypto.SecretUnreadable:
        return value  # plain already


def encrypt_passwords(apps, schema_editor):
    _rewrite_passwords(schema_editor, _encrypt_plain)


def decrypt_passwords(apps, schema_editor):
    _rewrite_passwords(schema_editor, _decrypt_token)


def date_queued_messages(apps, schema_editor):
    EmailMessage = apps.get_model("email_integration", "EmailMessage")
    EmailMessage.objects.filter(status="queued", next_attempt_at__isnull=True).update(
        next_attempt_at=F("received_at")
    )


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={
            "task": "email_integration.tasks.sweep_outbound",
            "interval": every_minute,
            "description": "Re-queues outbound mail left queued or claimed for too long.",
        },
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("email_integration", "0004_outbound_retry_encrypted_secrets"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(encrypt_passwords, decrypt_passwords),
        migrations.RunPython(date_queued_messages, migrations.RunPython.noop),
        migrations.RunPython(create_schedule, remove_schedule),
    ]
