"""One shape for the API's configuration endpoints (teams, routing rules, workflows, ticket
fields, macros, webhook endpoints, automation rules).

Each reads through its ``get_queryset`` and writes through its app's services: a write
serializer validates the input, one service makes the change (and records its event), and
the answer is the row read back through ``get_queryset``, so that it shows what a read
shows. A viewset names its write serializer and its services (``ConfigWrites``) and gets
its schema from ``config_schema``; where its services take more than the row's fields, or
its answer to a create is another, it says so by overriding ``_arguments`` or ``_created``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, TypeVar

from django.db.models import Model
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from nixflow.toolkit.auth import signed_in_user

_M = TypeVar("_M", bound=Model)
_V = TypeVar("_V", bound=type[viewsets.GenericViewSet])


@dataclass(frozen=True)
class ConfigWrites:
    """A configuration model's create, update and delete services, called alike:
    ``create(*, actor, data, **arguments)``, ``update(*, <row>=row, actor, data,
    **arguments)`` and ``delete(*, <row>=row, actor)``.

    ``<row>`` is the services' first keyword, as every service names the thing it changes
    first (``ticket_field_update(*, field, actor, data)``): read from ``update``'s
    signature once, rather than written again next to the services.
    """

    create: Callable[..., Any]
    update: Callable[..., Any]
    delete: Callable[..., Any]

    @cached_property
    def row(self) -> str:
        return next(iter(inspect.signature(self.update).parameters))


def config_schema(
    *,
    read: type[serializers.Serializer[Any]],
    write: type[serializers.Serializer[Any]],
    created: type[serializers.Serializer[Any]] | None = None,
) -> Callable[[_V], _V]:
    """The schema of a ``ConfigViewSet``'s writes: they take ``write`` and answer ``read``
    (a create answers ``created`` when given). Without it the schema would describe the
    input as the read serializer, which is what DRF's ``get_serializer`` names."""
    decorate: Callable[[_V], _V] = extend_schema_view(
        create=extend_schema(request=write, responses={201: created or read}),
        update=extend_schema(request=write, responses=read),
        partial_update=extend_schema(request=write, responses=read),
    )
    return decorate


class ConfigViewSet(viewsets.ModelViewSet[_M]):
    """List, read, create, change and delete configuration rows through their services.

    A subclass names its read serializer (``serializer_class``), its input serializer
    (``write_serializer_class``) and its services (``writes``), and is decorated with
    ``config_schema``.
    """

    write_serializer_class: ClassVar[type[serializers.Serializer[Any]]]
    writes: ClassVar[ConfigWrites]

    def _shown(self, row: _M, *, code: int = status.HTTP_200_OK) -> Response:
        # Read back through get_queryset: its prefetches and annotations are the answer's.
        return Response(self.get_serializer(self.get_queryset().get(pk=row.pk)).data, code)

    def _validated(
        self, request: Request, *, partial: bool, row: _M | None = None
    ) -> dict[str, Any]:
        # ``row``: the row being changed (None on create), for a subclass whose input is
        # checked against it; the input alone here.
        serializer = self.write_serializer_class(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def _arguments(self, data: dict[str, Any]) -> dict[str, Any]:
        # What the services take as arguments of their own rather than in ``data`` (a
        # team's members, a workflow's stages), taken out of ``data``; none here.
        return {}

    def _created(self, created: Any) -> Response:
        # The answer to what ``writes.create`` returned: here the new row, read back.
        return self._shown(created, code=status.HTTP_201_CREATED)

    # The actions have no docstrings: drf-spectacular would publish them as the operations'
    # descriptions in place of the subclass's own.
    def create(self, request: Request) -> Response:
        data = self._validated(request, partial=False)
        arguments = self._arguments(data)
        created = self.writes.create(actor=signed_in_user(request), data=data, **arguments)
        return self._created(created)

    def update(self, request: Request, pk: str, partial: bool = False) -> Response:
        row = self.get_object()  # a row the caller cannot see is a 404 before any 400
        data = self._validated(request, partial=partial, row=row)
        arguments = self._arguments(data)
        self.writes.update(
            **{self.writes.row: row}, actor=signed_in_user(request), data=data, **arguments
        )
        return self._shown(row)

    def partial_update(self, request: Request, pk: str) -> Response:
        return self.update(request, pk, partial=True)

    def destroy(self, request: Request, pk: str) -> Response:
        self.writes.delete(**{self.writes.row: self.get_object()}, actor=signed_in_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
