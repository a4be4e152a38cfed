"""Full-text search over tickets and their conversation (filled in by the search work)."""

from __future__ import annotations


def register() -> None:
    """Connect what keeps the search documents current."""
