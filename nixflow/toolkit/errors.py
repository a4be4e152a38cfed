"""The errors services raise beyond Django's own, and the text a person reads for them."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError


class ConflictError(ValidationError):
    """A change refused because of the state of what it would change, not because of its
    input: a breach already acknowledged, feedback already resolved, a ticket with no
    transition from its current stage, a row still in use. The same request may succeed
    after another change (or never); no other input would help now.

    A ``ValidationError``, so that the admin, mail and tasks, which show or record those,
    treat it as before; the API answers it 409 Conflict (``nixflow/api/exceptions.py``).
    """


def error_text(error: ValidationError | PermissionDenied) -> str:
    """One line for a message or a held record: a ValidationError's messages joined (field
    names dropped), a PermissionDenied's text, or "Not allowed." when it has none."""
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error) or "Not allowed."
