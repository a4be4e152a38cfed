"""The language a person reads: their own choice, else the desk's.

Mail is written in the recipient's language whoever triggers it (an agent in Berlin
answering a requester in London writes an English acknowledgement): wrap the building
of subject and body in ``translation.override(language_for(user))``.
"""

from __future__ import annotations

from django.conf import settings

from nixflow.models import User


def language_for(user: User | None) -> str:
    """``user.language`` when it is one of the desk's languages, else LANGUAGE_CODE."""
    codes = {code for code, _name in settings.LANGUAGES}
    code = getattr(user, "language", "") if user is not None else ""
    return code if code in codes else settings.LANGUAGE_CODE
