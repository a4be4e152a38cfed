"""The API's error responses: JSON with field messages, never a 500 for bad input.

Services raise Django's exceptions (they serve the admin, mail and tasks as well as the
API); this handler gives them the same shape as DRF's own errors:

- ``django.core.exceptions.ValidationError`` → 400 ``{field: [messages]}``, with errors
  that belong to no field under ``non_field_errors``;
- ``PermissionDenied`` → 403 ``{detail}`` and ``Http404`` → 404 ``{detail}`` (DRF's
  handler already does both, keeping the service's message);
- a request body over Django's upload limits → 413 or 400 instead of Django's HTML page.
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
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        detail = as_serializer_error(exc)
        if NON_FIELD_ERRORS in detail:
            detail[api_settings.NON_FIELD_ERRORS_KEY] = detail.pop(NON_FIELD_ERRORS)
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(str(exc))
    elif isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        exc = exceptions.ParseError(str(exc))
    return drf_exception_handler(exc, context)
