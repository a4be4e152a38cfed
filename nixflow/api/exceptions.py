"""The API's error responses: JSON with field messages, never a 500 for bad input.

Services raise Django's exceptions (they serve the admin, mail and tasks as well as the
API); this handler gives them the same shape as DRF's own errors:

- ``nixflow.toolkit.errors.ConflictError`` (a ``ValidationError`` refused for the state of
  what it would change: already acknowledged, not a transition from the current stage, still
  in use) → 409 ``{detail}``, its messages joined;
- ``django.core.exceptions.ValidationError`` → 400 ``{field: [messages]}``, with errors
  that belong to no field under ``non_field_errors``;
- ``PermissionDenied`` → 403 ``{detail}`` and ``Http404`` → 404 ``{detail}`` (DRF's
  handler already does both, keeping the service's message);
- a request body over Django's upload limits → 413 or 400 instead of Django's HTML page;
- files over a user's or a ticket's storage quota (``StorageQuotaExceededError``, a
  ``ValidationError`` for the admin's sake) → 413 ``{detail}``;
- text the database cannot store (a NUL character, which PostgreSQL refuses in text and
  ``jsonb``, in a value no serializer field checked: a JSON object's key, a nested
  answer) → 400 ``{detail}``. Serializer fields already refuse NUL with a message of
  their own; this is the net under them.

Bodies that cannot be parsed (nesting too deep, numbers out of range) are refused by the
parsers (``nixflow/api/parsers.py``), cursors by the pagination: both 400 ``{detail}``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import (
    NON_FIELD_ERRORS,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from nixflow.toolkit.errors import ConflictError
from nixflow.toolkit.quotas import StorageQuotaExceededError


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class ConflictResponse(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class NulCharacter(exceptions.ParseError):
    default_detail = "Text may not contain the NUL character (\\u0000)."
    default_code = "nul_character"


def _is_nul_refusal(exc: DataError) -> bool:
    # psycopg refuses NUL in a text parameter before sending it; PostgreSQL refuses
    # \u0000 in jsonb ("unsupported Unicode escape sequence").
    text = str(exc)
    return "NUL (0x00)" in text or "\\u0000 cannot be converted to text" in text


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, StorageQuotaExceededError):
        exc = PayloadTooLarge(" ".join(exc.messages))
    elif isinstance(exc, ConflictError):
        exc = ConflictResponse(" ".join(exc.messages))
    elif isinstance(exc, DjangoValidationError):
        detail = as_serializer_error(exc)
        if NON_FIELD_ERRORS in detail:
            detail[api_settings.NON_FIELD_ERRORS_KEY] = detail.pop(NON_FIELD_ERRORS)
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(str(exc))
    elif isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        exc = exceptions.ParseError(str(exc))
    elif isinstance(exc, DataError) and _is_nul_refusal(exc):
        exc = NulCharacter()
    return drf_exception_handler(exc, context)
