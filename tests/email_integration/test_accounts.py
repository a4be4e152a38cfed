"""Mail accounts: one set of services behind the admin and the API, their events, and
passwords encrypted at rest with keys that can be rotated."""

from __future__ import annotations

import importlib
import json
from io import StringIO
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.apps import apps as django_apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.db import connection
from django.test import Client
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from email_integration import accounts, crypto, events
from email_integration.models import EmailAccount
from eventlog.models import EventLog
from nixflow.models import Role, User
from tests.email_integration.factories import EmailAccountFactory, EmailMessageFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ADMIN_URL = "/admin/email_integration/emailaccount/"
SETTINGS = {
    "name": "Support",
    "address": "support@desk.test",
    "protocol": "IMAP",
    "host": "imap.desk.test",
    "port": 993,
    "use_tls": True,
    "username": "support",
    "password": "hunter2",
    "folder": "INBOX",
    "default_priority": "NORMAL",
    "is_active": True,
    "poll_interval_seconds": 60,
}
CHANGE = {"folder": "Support", "password": "correct horse"}


@pytest.fixture
def admin_user(db: None) -> User:
    return UserFactory(username="root", role=Role.ADMIN, is_superuser=True, is_staff=True)


def stored_column(account: EmailAccount) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT password FROM email_integration_emailaccount WHERE id = %s", [account.pk]
        )
        return cursor.fetchone()[0]


def account_events() -> list[tuple[str, dict[str, Any]]]:
    found = EventLog.objects.filter(subject_model="emailaccount").order_by("id")
    return [(event.type, event.payload) for event in found]


# --- Services --------------------------------------------------------------------------------


def test_an_update_records_the_changed_fields_and_that_the_password_changed_never_its_value(
    admin_user: User,
) -> None:
    account = accounts.email_account_create(actor=admin_user, data=SETTINGS)
    accounts.email_account_update(
        actor=admin_user,
        account=account,
        data={**SETTINGS, "port": 143, "use_tls": False, "password": "s3cret-2"},
    )
    accounts.email_account_update(actor=admin_user, account=account, data=SETTINGS | {"port": 143})

    created, updated, password_only = EventLog.objects.filter(
        subject_model="emailaccount", subject_id=str(account.pk)
    ).order_by("id")
    assert created.type == events.ACCOUNT_CREATED
    assert created.payload["has_password"] is True
    assert created.payload["host"] == "imap.desk.test"
    assert updated.type == events.ACCOUNT_UPDATED
    assert updated.actor == admin_user
    assert updated.payload == {
        "changes": {"port": [993, 143], "use_tls": [True, False], "password": [None, None]},
        "secrets_changed": ["password"],
    }
    assert password_only.payload["secrets_changed"] == ["password"]
    every_payload = json.dumps([e.payload for e in EventLog.objects.all()])
    assert "hunter2" not in every_payload
    assert "s3cret-2" not in every_payload


def test_saving_without_a_change_or_with_an_empty_password_records_nothing(
    admin_user: User,
) -> None:
    account = accounts.email_account_create(actor=admin_user, data=SETTINGS)
    before = EventLog.objects.count()

    accounts.email_account_update(
        actor=admin_user, account=account, data={**SETTINGS, "password": ""}
    )

    account.refresh_from_db()
    assert account.password == "hunter2"
    assert EventLog.objects.count() == before


def test_only_admins_write_accounts_and_invalid_ones_are_refused(
    admin_user: User, agent: User
) -> None:
    with pytest.raises(PermissionDenied):
        accounts.email_account_create(actor=agent, data=SETTINGS)
    account = accounts.email_account_create(actor=admin_user, data=SETTINGS)
    with pytest.raises(PermissionDenied):
        accounts.email_account_update(actor=agent, account=account, data={"folder": "X"})
    with pytest.raises(PermissionDenied):
        accounts.email_account_delete(actor=agent, account=account)
    with pytest.raises(ValidationError) as duplicate:
        accounts.email_account_create(actor=admin_user, data=SETTINGS)
    assert "name" in duplicate.value.message_dict
    with pytest.raises(ValidationError):
        accounts.email_account_update(actor=admin_user, account=account, data={"port": 70000})
    with pytest.raises(ValidationError):
        accounts.email_account_update(
            actor=admin_user, account=account, data={"last_error": "forged"}
        )
    assert [t for t, _ in account_events()] == [events.ACCOUNT_CREATED]


def test_an_account_with_mail_is_not_deleted(admin_user: User, api_client: APIClient) -> None:
    account = EmailAccountFactory()
    EmailMessageFactory(account=account)
    api_client.force_authenticate(admin_user)

    response = api_client.delete(f"/api/email/accounts/{account.pk}/")

    assert response.status_code == 400
    assert "deactivate it instead" in json.dumps(response.json())
    assert EmailAccount.objects.filter(pk=account.pk).exists()
    assert not account_events()


# --- The admin and the API record the same events ---------------------------------------------


def admin_form(values: dict[str, Any]) -> dict[str, Any]:
    """The admin's add/change form as a browser posts it (unchecked boxes are absent)."""
    form = {name: "" for name in accounts.ACCOUNT_FIELDS if name != "id"}
    # Selects without an empty choice: a browser posts the selected default.
    form |= {"auth_method": "password", "smtp_security": "starttls"}
    for name, value in values.items():
        if isinstance(value, bool):
            if value:
                form[name] = "on"
            else:
                form.pop(name)
        else:
            form[name] = str(value)
    return form


def through_the_api(client: APIClient) -> None:
    created = client.post("/api/email/accounts/", SETTINGS, format="json")
    assert created.status_code == 201, created.json()
    url = f"/api/email/accounts/{created.json()['id']}/"
    assert client.patch(url, CHANGE, format="json").status_code == 200
    assert client.delete(url).status_code == 204


def through_the_admin(client: Client) -> None:
    created = client.post(f"{ADMIN_URL}add/", admin_form(SETTINGS))
    assert created.status_code == 302, created.content.decode()[:2000]
    account = EmailAccount.objects.get(name=SETTINGS["name"])
    changed = client.post(f"{ADMIN_URL}{account.pk}/change/", admin_form(SETTINGS | CHANGE))
    assert changed.status_code == 302
    deleted = client.post(f"{ADMIN_URL}{account.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302


def test_the_admin_and_the_api_record_the_same_events_for_the_same_changes(
    admin_user: User, api_client: APIClient, client: Client
) -> None:
    api_client.force_authenticate(admin_user)
    client.force_login(admin_user)

    through_the_api(api_client)
    by_api = account_events()
    through_the_admin(client)
    by_admin = account_events()[len(by_api) :]

    assert [t for t, _ in by_api] == [
        events.ACCOUNT_CREATED,
        events.ACCOUNT_UPDATED,
        events.ACCOUNT_DELETED,
    ]
    assert by_admin == by_api
    assert by_api[1][1] == {
        "changes": {"folder": ["INBOX", "Support"], "password": [None, None]},
        "secrets_changed": ["password"],
    }
    # The services' events replace the admin's generic ones for accounts.
    assert not EventLog.objects.filter(type__startswith="admin.").exists()


def test_the_admin_keeps_the_password_when_the_field_is_left_empty(
    admin_user: User, client: Client
) -> None:
    account = accounts.email_account_create(actor=admin_user, data=SETTINGS)
    client.force_login(admin_user)

    page = client.get(f"{ADMIN_URL}{account.pk}/change/")
    assert b"hunter2" not in page.content
    assert b'type="password"' in page.content
    response = client.post(
        f"{ADMIN_URL}{account.pk}/change/", admin_form(SETTINGS | {"password": ""})
    )

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.password == "hunter2"


# --- Encrypted at rest, rotated -----------------------------------------------------------


def test_the_password_is_stored_encrypted_and_read_back_in_the_clear(admin_user: User) -> None:
    account = accounts.email_account_create(actor=admin_user, data=SETTINGS)

    column = stored_column(account)
    assert column.startswith("gAAAAA")
    assert "hunter2" not in column
    assert EmailAccount.objects.get(pk=account.pk).password == "hunter2"
    assert EmailAccount.objects.values_list("password", flat=True).get(pk=account.pk) == "hunter2"


def test_keys_rotate_new_key_first_then_rotate_secrets_then_the_old_key_goes(
    admin_user: User, settings: Settings
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.NIXFLOW_SECRET_KEYS = [old]
    account = accounts.email_account_create(actor=admin_user, data=SETTINGS)
    before = stored_column(account)

    settings.NIXFLOW_SECRET_KEYS = [new, old]
    assert EmailAccount.objects.get(pk=account.pk).password == "hunter2"  # old still reads
    out = StringIO()
    call_command("rotate_secrets", stdout=out)
    assert "Re-encrypted 1 secret(s)" in out.getvalue()
    assert stored_column(account) != before

    settings.NIXFLOW_SECRET_KEYS = [new]
    assert EmailAccount.objects.get(pk=account.pk).password == "hunter2"
    settings.NIXFLOW_SECRET_KEYS = [old]  # a key that was removed too early
    with pytest.raises(crypto.SecretUnreadable, match="rotate_secrets"):
        EmailAccount.objects.get(pk=account.pk)


def test_rotate_secrets_refuses_when_a_secret_is_unreadable_and_changes_nothing(
    admin_user: User, settings: Settings
) -> None:
    settings.NIXFLOW_SECRET_KEYS = [Fernet.generate_key().decode()]
    account = accounts.email_account_create(actor=admin_user, data=SETTINGS)
    before = stored_column(account)
    settings.NIXFLOW_SECRET_KEYS = [Fernet.generate_key().decode()]

    with pytest.raises(Exception, match="cannot be decrypted"):
        call_command("rotate_secrets", stdout=StringIO())
    assert stored_column(account) == before


def test_rotate_secrets_makes_a_new_key() -> None:
    out = StringIO()
    call_command("rotate_secrets", "--new-key", stdout=out)
    Fernet(out.getvalue().strip())  # a valid key, or this raises


def test_the_data_migration_encrypts_plain_passwords_and_its_reverse_decrypts_them() -> None:
    migration = importlib.import_module(
        "email_integration.migrations.0005_encrypt_secrets_outbound_sweeper"
    )
    account = EmailAccountFactory()
    with connection.cursor() as cursor:  # as 0003 left it: plain text
        cursor.execute(
            "UPDATE email_integration_emailaccount SET password = 'plain-pw' WHERE id = %s",
            [account.pk],
        )
    editor = SimpleNamespace(connection=connection)

    migration.encrypt_passwords(django_apps, editor)
    assert stored_column(account).startswith("gAAAAA")
    assert EmailAccount.objects.get(pk=account.pk).password == "plain-pw"
    migration.encrypt_passwords(django_apps, editor)  # twice: still one layer
    assert EmailAccount.objects.get(pk=account.pk).password == "plain-pw"

    migration.decrypt_passwords(django_apps, editor)
    assert stored_column(account) == "plain-pw"
