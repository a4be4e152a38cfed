"""Absolute links for mail: what a person clicks in a message must name the desk's host.

A request knows its own host; a worker sending a survey a day later does not, so mail
links are built on ``NIXFLOW_SITE_URL`` (the ``SITE_URL`` environment variable).
"""

from __future__ import annotations

from django.conf import settings


def site_url(path: str) -> str:
    """``path`` (from ``reverse()``) on the desk's public address."""
    return settings.NIXFLOW_SITE_URL.rstrip("/") + "/" + path.lstrip("/")
