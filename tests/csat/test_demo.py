"""The demo's surveys: the resolved demo tickets' surveys become the desk's past, most
answered, and nobody is mailed about tickets weeks old."""

from __future__ import annotations

import random
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from csat.models import Rating, Survey, SurveyStatus
from eventlog import outbox
from eventlog.models import EventLog

pytestmark = pytest.mark.django_db


def test_seed_demo_answers_the_demo_surveys_in_the_past_and_mails_nobody(
    settings: Any, tmp_path: Path
) -> None:
    settings.VAR_DIR = tmp_path
    call_command("seed_demo", "--core-only", "--tickets", "40", stdout=StringIO())
    assert Survey.objects.exists()

    config = apps.get_app_config("csat")
    line = config.seed_demo(rng=random.Random(7))  # noqa: S311 -- demo data
    assert line.startswith("Satisfaction surveys made past: ")
    outbox.run_inline()

    assert not [m for m in mail.outbox if "How did we do?" in m.subject]
    sent = Survey.objects.filter(status=SurveyStatus.SENT).select_related("ticket")
    assert sent
    for survey in sent:
        assert survey.sent_at == survey.ticket.resolved_at
    ratings = list(Rating.objects.all())
    assert ratings
    assert all(r.created <= timezone.now() for r in ratings)
    assert EventLog.objects.filter(type="csat.rated").count() == len(ratings)

    again = config.seed_demo(rng=random.Random(7))  # noqa: S311 -- demo data
    assert again == "Satisfaction ratings created: none (already there)"
