"""`manage.py rotate_secrets`: re-encrypt every stored secret with the first key of
``NIXFLOW_SECRET_KEYS`` (step 2 of a key rotation, see docs/operations.md, "Secrets");
`--new-key` prints a fresh key and changes nothing."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from email_integration import crypto


def encrypted_fields() -> list[tuple[str, str, str]]:
    """(table, primary key column, column) of every ``EncryptedTextField``."""
    return [
        (model._meta.db_table, model._meta.pk.column, field.column)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        # Other apps' Fernet columns under the same keys say so (eventlog.PersonKey.key).
        if isinstance(field, crypto.EncryptedTextField) or getattr(field, "fernet_encrypted", False)
    ]


class Command(BaseCommand):
    help = "Re-encrypt stored secrets with the first key of NIXFLOW_SECRET_KEYS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--new-key", action="store_true", help="Print a new key; change nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["new_key"]:
            self.stdout.write(crypto.new_key())
            return
        total = 0
        # One transaction: either every secret is under the new key, or none moved.
        with transaction.atomic(), connection.cursor() as cursor:
            for table, pk, column in encrypted_fields():
                name = connection.ops.quote_name
                cursor.execute(
                    f"SELECT {name(pk)}, {name(column)} FROM {name(table)} "  # noqa: S608 -- names from the models
                    f"WHERE {name(column)} <> '' FOR UPDATE"
                )
                for row_pk, token in cursor.fetchall():
                    try:
                        rotated = crypto.rotate(token)
                    except crypto.SecretUnreadable as error:
                        raise CommandError(
                            f"{table}.{column} of row {row_pk} cannot be decrypted with any "
                            "key in NIXFLOW_SECRET_KEYS: put the key it was written with back "
                            "in the list and run this again."
                        ) from error
                    cursor.execute(
                        f"UPDATE {name(table)} SET {name(column)} = %s "  # noqa: S608 -- as above
                        f"WHERE {name(pk)} = %s",
                        [rotated, row_pk],
                    )
                    total += 1
        self.stdout.write(f"Re-encrypted {total} secret(s) with the first key.")
