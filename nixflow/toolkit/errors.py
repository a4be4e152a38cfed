"""The text a person reads for an error a service raised."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError


def error_text(error: ValidationError | PermissionDenied) -> str:
    """One line for a message or a held record: a ValidationError's messages joined (field
    names dropped), a PermissionDenied's text, or "Not allowed." when it has none."""
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error) or "Not allowed."
