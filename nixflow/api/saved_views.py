"""``/api/views/``: the desk's views through the API, for agents (requesters get 403).

- ``GET /api/views/``: the built-in views (the desk's queues, ``id`` their slug:
  ``mine``, ``team-unassigned``, ...) then the caller's saved views and their teams'
  (``id`` a number), each with its count, capped as on the desk (``count_is_exact``
  false above 10,000; ``count_text`` "10,000+"). A saved view whose query the ticket
  list cannot run any more has ``count`` null and ``error`` saying why.
- ``GET /api/views/{id}/tickets/``: that view's tickets, serialized and paged exactly as
  ``GET /api/tickets/`` (its serializer, cursor pagination, filters and ``ordering``,
  newest first by default): the same functions as the desk's count and the ticket
  list's link (a queue's function; a saved view's query run through the admin's ticket
  list, nixflow.admin.saved_views.view_tickets).
- ``POST /api/views/``, ``PATCH`` and ``DELETE /api/views/{id}/``: saved views, through
  nixflow.services.saved_views (the owner, their team's leads and admins change them).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from nixflow import selectors
from nixflow.admin.saved_views import ViewQueryError, view_count, view_tickets
from nixflow.api.filters import TicketFilter, TicketOrderingFilter
from nixflow.api.pagination import TicketCursorPagination
from nixflow.api.permissions import IsAgent
from nixflow.api.serializers import TicketSerializer
from nixflow.api.views import with_snippets
from nixflow.models import SavedView, Team, Ticket, User
from nixflow.services import saved_views as services
from nixflow.toolkit import queues
from nixflow.toolkit.auth import signed_in_user
from nixflow.toolkit.changelist import ResultCount
from nixflow.toolkit.errors import ConflictError

VIEW_ID = OpenApiParameter(
    "id",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="A built-in view's slug (mine, team-unassigned, ...) or a saved view's number.",
)


class ViewSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="A built-in view's slug, or a saved view's number.")
    name = serializers.CharField()
    # Text, not an enum: the schema already has a "kind" enum (notifications').
    kind = serializers.CharField(help_text='"built_in", "personal" or "team".')
    description = serializers.CharField()
    team = serializers.IntegerField(allow_null=True, help_text="The team a view is shared with.")
    owner = serializers.CharField(allow_null=True, help_text="A saved view's owner (username).")
    query = serializers.CharField(allow_null=True, help_text="A saved view's list query.")
    count = serializers.IntegerField(allow_null=True)
    count_is_exact = serializers.BooleanField()
    count_text = serializers.CharField(help_text='"42", or "10,000+" above the cap.')
    error = serializers.CharField(help_text="Why a saved view cannot be shown; else empty.")
    can_change = serializers.BooleanField()


class SavedViewWriteSerializer(serializers.ModelSerializer):
    team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.all(), allow_null=True, required=False
    )

    class Meta:
        model = SavedView
        fields = ("name", "team", "query", "position")
        extra_kwargs = {"query": {"required": False}, "position": {"required": False}}

    def validate_query(self, value: str) -> str:
        query = services.view_query(value)
        try:
            view_tickets(signed_in_user(self.context["request"]), query).query.sql_with_params()
        except ViewQueryError as error:
            raise serializers.ValidationError(str(error)) from error
        return query


def _counted(count: ResultCount | None) -> dict[str, Any]:
    return {
        "count": None if count is None else int(count),
        "count_is_exact": bool(count is not None and count.is_exact),
        "count_text": "" if count is None else str(count),
    }


def _queue_data(queue: queues.Queue, user: User) -> dict[str, Any]:
    return {
        "id": queue.slug,
        "name": queue.title,
        "kind": "built_in",
        "description": queue.description,
        "team": None,
        "owner": None,
        "query": None,
        "error": "",
        "can_change": False,
        **_counted(queues.capped_count(queue.queryset(user))),
    }


def _view_data(view: SavedView, user: User) -> dict[str, Any]:
    count: ResultCount | None = None
    error = ""
    try:
        count = view_count(user, view.query)
    except ViewQueryError as refused:
        error = str(refused)
    return {
        "id": str(view.pk),
        "name": view.name,
        "kind": "team" if view.team_id else "personal",
        "description": "",
        "team": view.team_id,
        "owner": view.owner.username,
        "query": view.query,
        "error": error,
        "can_change": services.can_change_view(user, view),
        **_counted(count),
    }


class ViewViewSet(viewsets.GenericViewSet):
    """Built-in and saved views of the ticket list, with counts; see the module."""

    permission_classes = [IsAgent]
    serializer_class = ViewSerializer
    # The model of the tickets action's filters (the schema reads it from here).
    queryset = Ticket.objects.none()
    # Any segment: an id that names no view is the API's 404 (JSON), not the router's.
    lookup_value_regex = r"[^/]+"
    # The list of views is short and whole (no pages); the tickets action sets its own
    # filters, ordering and cursor pages: those of GET /api/tickets/.
    filter_backends: list[Any] = []
    filterset_class = TicketFilter  # read by the tickets action's DjangoFilterBackend
    pagination_class = None

    def get_queryset(self) -> QuerySet[Any]:
        # Only the tickets action lists through the filters; it pages tickets.
        return Ticket.objects.none()

    def _saved(self, pk: str) -> SavedView:
        if not (pk.isascii() and pk.isdigit()) or len(pk) > 18:
            raise Http404("No such view.")
        visible = services.saved_views_visible(signed_in_user(self.request))
        view = visible.filter(pk=int(pk)).first()
        if view is None:
            raise Http404("No such view.")
        return view

    @extend_schema(responses=ViewSerializer(many=True), operation_id="views_list")
    def list(self, request: Request) -> Response:
        """The built-in views, then the caller's saved views and their teams', counted.
        One count query per view; counts stop at 10,000."""
        user = signed_in_user(request)
        data = [_queue_data(queue, user) for queue in queues.queues_for(user)]
        data += [_view_data(view, user) for view in services.saved_views_visible(user)]
        return Response(ViewSerializer(data, many=True).data)

    @extend_schema(request=SavedViewWriteSerializer, responses={201: ViewSerializer}, filters=False)
    def create(self, request: Request) -> Response:
        """Save a view of the ticket list (personal, or shared with one of your teams)."""
        serializer = SavedViewWriteSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        user = signed_in_user(request)
        # No query: the whole ticket list, as the list shows it without filters.
        data = {"query": "", **serializer.validated_data}
        view = services.saved_view_create(owner=user, actor=user, **data)
        return Response(_view_data(view, user), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=SavedViewWriteSerializer,
        responses=ViewSerializer,
        parameters=[VIEW_ID],
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        """Rename, reshare, change the query or the position of a saved view."""
        view = self._saved(pk)
        serializer = SavedViewWriteSerializer(
            view, data=request.data, partial=True, context={"request": request}
        )
        serializer.is_valid(raise_exception=True)
        user = signed_in_user(request)
        view = services.saved_view_update(view=view, actor=user, data=serializer.validated_data)
        return Response(_view_data(view, user))

    @extend_schema(responses={204: None}, parameters=[VIEW_ID])
    def destroy(self, request: Request, pk: str) -> Response:
        services.saved_view_delete(view=self._saved(pk), actor=signed_in_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=TicketSerializer(many=True), parameters=[VIEW_ID])
    @action(
        detail=True,
        methods=["get"],
        serializer_class=TicketSerializer,
        filter_backends=[DjangoFilterBackend, TicketOrderingFilter],
        pagination_class=TicketCursorPagination,
    )
    def tickets(self, request: Request, pk: str) -> Response:
        """The view's tickets, as ``GET /api/tickets/`` lists them (same filters,
        ``ordering`` and cursor pages). A saved view whose query no longer runs: 409."""
        user = signed_in_user(request)
        base = selectors.ticket_list(user=user)
        queue = queues.get_queue(pk)
        if queue is not None and queue.visible(user):
            tickets = queue.tickets(base, user)
        else:
            view = self._saved(pk)
            try:
                # The list's filters, search and order ANDed onto the API's ticket rows.
                tickets = base & view_tickets(user, view.query)
            except ViewQueryError as error:
                raise ConflictError(str(error)) from error
        page = self.paginate_queryset(self.filter_queryset(tickets))
        with_snippets(request, page)
        return self.get_paginated_response(
            TicketSerializer(page, many=True, context={"request": request}).data
        )
