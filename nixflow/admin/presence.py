"""Who else has the ticket open on its admin page (filled in by the presence work)."""

from __future__ import annotations


def register() -> None:
    """Register the ticket page's panel of this module."""
