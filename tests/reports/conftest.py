from __future__ import annotations

import zoneinfo

import pytest
from pytest_django.fixtures import Settings

from reports.services import tally_rebuild
from tests.reports.support import BERLIN


@pytest.fixture
def berlin(db: None, settings: Settings) -> zoneinfo.ZoneInfo:
    """The desk in Berlin, its tally cut there too."""
    settings.NIXFLOW_REPORTS_TIME_ZONE = "Europe/Berlin"
    tally_rebuild(zone=BERLIN)
    return BERLIN
