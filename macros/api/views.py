"""Macros through the API.

- ``/api/macros/``: agents list and read the macros they may use (admins every macro)
  and create, change and delete the ones they manage (``macros.selectors.may_manage``),
  through the same services as the admin. Requesters get 403.
- ``POST /api/tickets/{key}/apply_macro/`` ``{"macro": id, "body"?, "custom"?}``: the
  macro's reply and changes, in one transaction; 200 with the ticket, the new comment
  and the changes in words. A ticket the caller cannot see is a 404 (as everywhere for
  requesters), a requester's own ticket a 403, a macro they may not use a 400, a change
  the workflow forbids a 409 with the core's message.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from macros import selectors, services
from macros.api.serializers import (
    AppliedSerializer,
    ApplyMacroSerializer,
    MacroSerializer,
    MacroWriteSerializer,
)
from macros.models import Macro
from nixflow import selectors as ticket_selectors
from nixflow.api.config_views import ConfigViewSet, ConfigWrites, config_schema
from nixflow.api.permissions import IsAgent, is_agent
from nixflow.api.serializers import CommentSerializer, TicketSerializer
from nixflow.toolkit.auth import signed_in_user


@config_schema(read=MacroSerializer, write=MacroWriteSerializer)
class MacroViewSet(ConfigViewSet[Macro]):
    """Macros: canned replies with placeholders and the changes they make."""

    serializer_class = MacroSerializer
    write_serializer_class = MacroWriteSerializer
    writes = ConfigWrites(services.macro_create, services.macro_update, services.macro_delete)
    permission_classes = [IsAuthenticated, IsAgent]
    filter_backends: list[Any] = []
    conflicts = {"create": "A macro with this name exists already in that scope."}

    def get_queryset(self) -> QuerySet[Macro]:
        if getattr(self, "swagger_fake_view", False):  # the schema, built without a user
            return Macro.objects.none()
        return selectors.macros_visible(user=signed_in_user(self.request))


class ApplyMacroView(APIView):
    """Apply a macro to one ticket: its reply, then its changes."""

    permission_classes = [IsAuthenticated]
    action = "apply"  # for the schema's conflicts (nixflow/api/schema.py)
    conflicts = {
        "apply": "A change of the macro is refused by the ticket's state, such as a stage "
        "its workflow cannot move to from the current one."
    }
    request_body_required = True

    @extend_schema(request=ApplyMacroSerializer, responses=AppliedSerializer)
    def post(self, request: Request, key: str) -> Response:
        user = signed_in_user(request)
        ticket = ticket_selectors.ticket_get(user=user, key=key)
        if ticket is None:
            raise NotFound("No such ticket.")
        if not is_agent(user):
            raise PermissionDenied("Only agents can apply macros.")
        serializer = ApplyMacroSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        applied = services.macro_apply(
            macro=data["macro"],
            ticket=ticket,
            actor=user,
            body=data.get("body"),
            custom=data.get("custom", ""),
        )
        shown = ticket_selectors.ticket_get(user=user, key=key) or applied.ticket
        context = {"request": request}
        return Response(
            {
                "ticket": TicketSerializer(shown, context=context).data,
                "comment": CommentSerializer(applied.comment, context=context).data,
                "changes": applied.changes,
            }
        )
