"""Linked and merged tickets on the ticket's admin page (filled in by the links work)."""

from __future__ import annotations


def register() -> None:
    """Register the ticket page's panels and the ticket list's actions of this module."""
