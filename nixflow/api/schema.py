"""The OpenAPI schema's view of errors and anonymous access, for every app's API.

drf-spectacular documents the success responses an operation declares, and treats an
operation as open to anonymous callers only when its permission is ``AllowAny`` (or
``IsAuthenticatedOrReadOnly`` for reads). The API answers more than that, the same way
everywhere (``nixflow/api/exceptions.py``), so this schema class says so:

- the error responses each operation can give, with their JSON bodies: 400 for input
  (any change, or any query parameter, paging included), 401 for a missing or bad token,
  403 when a permission or a service refuses, 404 for a path naming nothing (or a page
  past the end), 409 where the view declares a conflict (``conflicts``: its action and
  why), 413/415 for bodies too large or of a type the view doesn't parse, and 429 for
  throttled operations;
- request bodies as JSON (multipart where the view takes files, or names its own
  parsers): DRF's form parsers still read form-encoded bodies everywhere, but a form
  encoding has no null and reads an empty optional value as "not given", so those are
  not part of the contract (docs/api-contract.md);
- ``allowEmptyValue`` on the optional query parameters but the page size (django-filter
  and DRF's fields read ``?status=`` as no filter), and a required body where the view
  says so (``request_body_required``);
- OpenAPI links from responses to the operations that take their values
  (``nixflow/api/links.py``);
- times of day as DRF writes them: local ``HH:MM:SS[.ffffff]`` with no UTC offset,
  which JSON Schema's ``time`` format (RFC 3339's full-time) requires;
- optional authentication (``{}`` in ``security``) for every operation whose
  permissions let an anonymous caller through, whatever the permission classes are
  called (the knowledge base reads, a public form's schema and submit, the token
  endpoint).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.core.validators import RegexValidator
from django.http import HttpRequest
from drf_spectacular import openapi
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.settings import api_settings

from nixflow.api.links import LINKS

# A page number past the last page is a 404 (DRF's "Invalid page"); a malformed
# page_size or cursor is a 400, like any other query parameter.
PAGE = "page"
# An empty page size is a 400 (nixflow/api/pagination.py); an empty page or cursor, the
# first page.
PAGE_SIZES = {"page_size"}

ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
VALIDATION_ERROR = {
    "type": "object",
    "description": "Messages by field (`non_field_errors` for the request as a whole; nested "
    "input has nested messages), or `detail` for a body that could not be parsed.",
    "additionalProperties": {},
}
NO_NUL = "^[^\\u0000]*$"
# At least one character that is whitespace neither to JSON Schema (whose \s has U+FEFF)
# nor to Python (whose str.strip(), DRF's trimming, removes U+001C-U+001F and U+0085).
# Python's re reads the same pattern, so a validator can use it as it is.
NOT_BLANK = "^[^\\u0000]*[^\\s\\u0000\\u001c-\\u001f\\u0085\\ufeff][^\\u0000]*$"
# DRF reads HH:MM, HH:MM:SS and HH:MM:SS.ffffff and writes the last two.
LOCAL_TIME = {
    "type": "string",
    "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$",
    "example": "09:00:00",
}
DESCRIPTIONS = {
    "400": "The input is invalid.",
    "401": "No credentials, or invalid ones.",
    "403": "Not allowed for this user.",
    "404": "Not found, or not visible to this user.",
    "409": "Refused for the current state of what it would change.",
    "413": "The request body is too large.",
    "415": "The request body has a media type this operation does not accept.",
    "429": "Too many requests; retry later.",
}


class AutoSchema(openapi.AutoSchema):
    def get_operation(
        self,
        path: str,
        path_regex: str,
        path_prefix: str,
        method: str,
        registry: Any,
    ) -> dict[str, Any] | None:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation["responses"]
        # A view says which of its actions a state can refuse, and why (``conflicts``).
        conflict = getattr(self.view, "conflicts", {}).get(getattr(self.view, "action", None))
        if conflict:
            responses.setdefault("409", {"description": conflict})
        for code, response in responses.items():
            if code.startswith("2") and operation["operationId"] in LINKS:
                response["links"] = LINKS[operation["operationId"]]
        if "requestBody" in operation and getattr(self.view, "request_body_required", False):
            operation["requestBody"]["required"] = True
        for parameter in operation.get("parameters", []):
            if (
                parameter["in"] == "query"
                and not parameter.get("required")
                and parameter["name"] not in PAGE_SIZES
            ):
                parameter["allowEmptyValue"] = True
        # A view may declare an error of its own (``404: OpenApiResponse(description=...)``
        # for a query naming nothing); it gets the same body as the others.
        declared = {code for code in responses if code >= "400"}
        for code in sorted({*self._error_codes(operation), *declared}):
            response = responses.setdefault(code, {"description": DESCRIPTIONS.get(code, "")})
            if "content" not in response:
                name, schema = (
                    ("ValidationError", VALIDATION_ERROR) if code == "400" else ("Error", ERROR)
                )
                response["content"] = {
                    "application/json": {"schema": self._component(name, schema)}
                }
        return operation

    def map_parsers(self) -> list[Any]:
        media_types: list[Any] = super().map_parsers()
        if self.view.parser_classes == api_settings.DEFAULT_PARSER_CLASSES:
            return [media_type for media_type in media_types if media_type == "application/json"]
        return media_types

    def _map_serializer_field(
        self, field: Any, direction: str, bypass_extensions: bool = False
    ) -> dict[str, Any]:
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if isinstance(field, serializers.TimeField) and schema.get("format") == "time":
            schema = {**{k: v for k, v in schema.items() if k != "format"}, **LOCAL_TIME}
        if (
            isinstance(field, serializers.CharField)
            and direction == "request"
            and schema.get("type") == "string"
            and not {"pattern", "format", "enum"} & set(schema)
            # A regex validator (slugs, keys) gives the field its own pattern.
            and not any(isinstance(v, RegexValidator) for v in field.validators)
        ):
            # DRF's text fields refuse the NUL character (so does PostgreSQL), and text
            # that is only whitespace where it must not be blank (they strip it first).
            blank_refused = field.trim_whitespace and not field.allow_blank
            schema = {**schema, "pattern": NOT_BLANK if blank_refused else NO_NUL}
        return schema

    def get_auth(self) -> list[dict[str, Any]]:
        auths = super().get_auth()
        if {} not in auths and self._allows_anonymous():
            auths.append({})
        return auths

    def _error_codes(self, operation: dict[str, Any]) -> list[str]:
        parameters = operation.get("parameters", [])
        query = {p["name"] for p in parameters if p["in"] == "query"}
        has_body = "requestBody" in operation or self.method in {"POST", "PUT", "PATCH"}
        codes = ["401"]
        # Services refuse changes with a ValidationError, DELETE included (a published
        # article is archived, not deleted; an SLA policy in use stays).
        if self.method not in SAFE_METHODS or query:
            codes.append("400")
        if not (self.method in SAFE_METHODS and self._allows_anonymous()):
            codes.append("403")
        if any(p["in"] == "path" for p in parameters) or PAGE in query:
            codes.append("404")
        if has_body:
            codes += ["413", "415"]
        if self.view.get_throttles():
            codes.append("429")
        return sorted(codes)

    def _allows_anonymous(self) -> bool:
        """Whether the view's permissions let an anonymous caller of this method in.

        Asked of the permission classes themselves, with an anonymous request, so that
        custom classes (``ReadOrAgent``, per-action ``get_permissions``) are judged by
        what they do rather than by their names.
        """
        http_request = HttpRequest()
        http_request.method = self.method
        request = Request(http_request)
        request.user = AnonymousUser()
        return all(p.has_permission(request, self.view) for p in self.view.get_permissions())

    def _component(self, name: str, schema: dict[str, Any]) -> dict[str, str]:
        component = ResolvedComponent(
            name=name, type=ResolvedComponent.SCHEMA, schema=schema, object=name
        )
        self.registry.register_on_missing(component)
        return component.ref
