"""The language a person reads: their own choice, else the desk's.

Pages: ``User.language`` when they are signed in and chose one
(``nixflow.middleware.UserLanguageMiddleware``), else the language cookie or the
browser's ``Accept-Language`` (Django's LocaleMiddleware), else LANGUAGE_CODE.

Mail is written in the recipient's language whoever triggers it (an agent in Berlin
answering a requester in London writes an English acknowledgement): wrap the building
of subject and body in ``translation.override(language_for(user))``; a bare address
(a team's, an escalation address) is nobody's account and gets the desk's LANGUAGE_CODE.
Dates in mail go through ``local_datetime``: the recipient's time zone, else the desk's.
"""

from __future__ import annotations

import datetime
import os
import zoneinfo
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import formats, timezone, translation

from nixflow import events
from nixflow.models import Ticket, User
from nixflow.toolkit.auth import require_admin
from nixflow.toolkit.services import changes_payload, model_update


def language_codes() -> list[str]:
    """The desk's languages (settings.LANGUAGES), in their order."""
    return [code for code, _name in settings.LANGUAGES]


def language_for(user: User | None) -> str:
    """``user.language`` when it is one of the desk's languages, else LANGUAGE_CODE."""
    code = getattr(user, "language", "") if user is not None else ""
    return code if code in language_codes() else settings.LANGUAGE_CODE


def requester_priority(ticket: Ticket) -> str:
    """The ticket's priority as its requester reads it (their language): for texts
    written to them, such as a macro's reply or an automation rule's mail."""
    with translation.override(language_for(ticket.requester)):
        return str(ticket.get_priority_display())


def zone_for(user: User | None) -> datetime.tzinfo:
    """``user.time_zone`` when it is a known zone, else the desk's TIME_ZONE."""
    name = getattr(user, "time_zone", "") if user is not None else ""
    if name:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    return timezone.get_default_timezone()


def local_datetime(value: datetime.datetime, user: User | None) -> str:
    """``value`` as the reader of a mail reads a date: in their time zone, in the active
    language's format, with the zone's abbreviation ("7 December 2026, 14:05 CET")."""
    if timezone.is_naive(value):
        value = timezone.make_aware(value, datetime.UTC)
    local = value.astimezone(zone_for(user))
    shown = formats.date_format(local, "DATETIME_FORMAT")
    return f"{shown} {local:%Z}".strip()


@transaction.atomic
def user_set_language(*, user: User, language: str, actor: User | None) -> User:
    """Set the language pages and mail use for ``user``: people their own (admins may
    set anyone's through the admin). ``""`` goes back to the browser's, or the desk's.
    Records ``user.updated``."""
    if actor is not None and actor.pk != user.pk:
        require_admin(actor, "set another person's language")
    language = language.strip()
    if language and language not in language_codes():
        raise ValidationError({"language": f"{language!r} is not one of the desk's languages."})
    user = User.objects.select_for_update().get(pk=user.pk)
    changes = model_update(instance=user, data={"language": language}, allowed={"language"})
    if changes:
        events.record_user_event(
            type=events.USER_UPDATED,
            user=user,
            actor=actor,
            payload={"fields": sorted(changes), "changes": changes_payload(changes)},
        )
    return user


def _in_folder(folder: Path, command: str, **options: object) -> None:
    from django.core.management import call_command

    here = Path.cwd()
    os.chdir(folder)
    try:
        call_command(command, **options)
    finally:
        os.chdir(here)


def catalog_update(app_dir: str | Path, *, language: str = "de") -> Path:
    """Run ``makemessages`` for ``language`` in ``app_dir`` (an app's folder, with or
    without its ``locale``), the way Django's documentation has it run from inside the
    app; the catalog's path. For ``python manage.py shell -c`` from the project's root:
    ``cd sla && python ../manage.py makemessages`` fails for an app holding a module
    named like another app (``sla/notifications.py``), because Celery's Django fixup
    puts the working directory first on ``sys.path`` while Django starts. Here Django
    has started before the working directory changes."""
    folder = Path(app_dir).resolve()
    (folder / "locale").mkdir(exist_ok=True)
    _in_folder(folder, "makemessages", locale=[language], no_location=True, verbosity=0)
    return folder / "locale" / language / "LC_MESSAGES" / "django.po"


def catalog_compile(app_dir: str | Path, *, language: str = "de") -> Path:
    """``compilemessages`` for ``language`` in ``app_dir`` (as ``catalog_update``); the
    compiled catalog's path."""
    folder = Path(app_dir).resolve()
    _in_folder(folder, "compilemessages", locale=[language], verbosity=0)
    return folder / "locale" / language / "LC_MESSAGES" / "django.mo"
