"""The core API. Each view validates its input with a serializer, calls one service or
selector, and serializes the result (serializers never write, so history and events
are the services'); who may do what is decided by
the selectors (what a user sees) and the services (what a user may change)."""

from __future__ import annotations

import logging
import re
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Prefetch, QuerySet
from django.http.response import HttpResponseBase
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from nixflow import search, selectors, services
from nixflow.api.config_views import ConfigViewSet, ConfigWrites, config_schema
from nixflow.api.exceptions import PayloadTooLarge
from nixflow.api.filters import ID_SCHEMA, TicketFilter, TicketOrderingFilter
from nixflow.api.pagination import DefaultPagination, TicketCursorPagination
from nixflow.api.parsers import JSONParser
from nixflow.api.permissions import IsAdminOrReadOnly
from nixflow.api.serializers import (
    COMMENT_BODY_NOT_BLANK,
    CommentCreateSerializer,
    CommentSerializer,
    HistorySerializer,
    MeSerializer,
    PresenceBeatSerializer,
    PresenceSerializer,
    TicketAssignSerializer,
    TicketCreateSerializer,
    TicketSerializer,
    TicketTransitionSerializer,
    TicketUpdateSerializer,
    WatcherSerializer,
    WatchSerializer,
    WorkflowSerializer,
    WorkflowWriteSerializer,
)
from nixflow.models import (
    TICKET_KEY_PATTERN,
    Attachment,
    Source,
    Stage,
    Ticket,
    TicketWatcher,
    Transition,
    User,
    Workflow,
)
from nixflow.services import presence as presence_services
from nixflow.services.tickets import StaleTicketError, ticket_check_version
from nixflow.toolkit.auth import signed_in_user
from nixflow.toolkit.downloads import attachment_response

logger = logging.getLogger(__name__)


class MeView(APIView):
    """The authenticated user: lets an integration confirm whose token it holds."""

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user).data)


TICKET_FILTER_PARAMETERS = [
    OpenApiParameter(
        "stage",
        {"type": "array", "items": ID_SCHEMA},
        description="Stage ids: `stage=3`, `stage=3,4` or `stage=3&stage=4`.",
    ),
    OpenApiParameter(
        "assignee",
        {"type": "string", "pattern": "^([1-9][0-9]*|none)$"},
        description="The assignee's user id, or `none` for unassigned tickets.",
    ),
    OpenApiParameter("requester", ID_SCHEMA, description="The requester's user id."),
    OpenApiParameter("workflow", ID_SCHEMA, description="The workflow's id."),
]
USER_PARAMETER = OpenApiParameter(
    "user",
    OpenApiTypes.INT,
    description="The watcher to remove (also accepted as a JSON body `{user}`); "
    "defaults to the caller.",
)


# --- Optimistic concurrency (docs/collision.md) ----------------------------------------
# An entity tag is the ticket's version in quotes, weak (W/) or not: `"7"`, `W/"7"`.
ENTITY_TAG = re.compile(r'^(?:W/)?"([1-9][0-9]{0,9})"$')
_TAG = r'(W/)?"[1-9][0-9]{0,9}"'
IF_MATCH_PATTERN = rf"^\s*(\*|{_TAG}(\s*,\s*{_TAG})*)\s*$"
IF_MATCH = OpenApiParameter(
    "If-Match",
    {"type": "string", "pattern": IF_MATCH_PATTERN},
    OpenApiParameter.HEADER,
    description='The ticket\'s version as last loaded (its ETag, e.g. `"7"`): the change is '
    "refused with 412 when the ticket changed since. Without it (or with `*`) nothing is "
    "checked.",
)
ETAG = OpenApiParameter(
    "ETag",
    {"type": "string", "pattern": '^"[1-9][0-9]*"$'},
    OpenApiParameter.HEADER,
    description='The ticket\'s version in quotes (`"7"`), for `If-Match`.',
    response=[200],
)
STALE = OpenApiResponse(
    inline_serializer(
        "StaleTicket",
        {
            "detail": serializers.CharField(),
            "current_version": serializers.IntegerField(
                help_text="The ticket's version now; load it again before retrying."
            ),
        },
    ),
    description="The ticket changed since the version given in If-Match.",
)


def if_match_versions(request: Request) -> list[int] | None:
    """The versions an If-Match header accepts; None without one (or with ``*``, which
    any existing ticket matches). A header that names no version is a 400: silently
    skipping the check would let the client overwrite what it meant to protect."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    versions = []
    for tag in header.split(","):
        match = ENTITY_TAG.match(tag.strip())
        if match is None:
            given = header.strip()[:100]
            message = (
                f"{given!r} is not an entity tag of a ticket: send its version in quotes, "
                'as its ETag gives it (If-Match: "7").'
            )
            raise exceptions.ValidationError({"If-Match": [message]})
        versions.append(int(match.group(1)))
    return versions


def check_if_match(request: Request, ticket: Ticket) -> None:
    """In the caller's transaction: lock the ticket and refuse (StaleTicketError, a 412
    from TicketViewSet.handle_exception) when its version is not one the request's
    If-Match accepts; nothing to check without one."""
    versions = if_match_versions(request)
    if versions is not None:
        ticket_check_version(ticket=ticket, expected=versions)


def stale_response(stale: StaleTicketError) -> Response:
    """412 with the ticket's current version in the body and as the ETag."""
    return Response(
        {"detail": str(stale), "current_version": stale.current},
        status=status.HTTP_412_PRECONDITION_FAILED,
        headers={"ETag": f'"{stale.current}"'},
    )


def etag(ticket: Ticket) -> str:
    return f'"{ticket.version}"'


def with_snippets(request: Request, page: list[Ticket] | None) -> None:
    """While searching (``search=``), each ticket of the page says where the words were
    found (``search_snippet``): one query for the page, in the caller's view of the
    conversation (requesters: the public part)."""
    text = request.query_params.get("search", "").strip()
    if page and text:
        search.attach_snippets(page, text, internal=getattr(request.user, "is_agent", False))


class TicketViewSet(viewsets.GenericViewSet):
    """Tickets, addressed by key (``NF-12``).

    Requesters see the tickets they requested or watch and get 404 for any other, exactly
    as for a key that does not exist; agents see every ticket. There is no PUT and no
    DELETE: tickets are closed through a transition, never removed.
    """

    # The class-level queryset only tells the router and the schema the model; every
    # request goes through get_queryset (the visibility rule of the selector).
    queryset = Ticket.objects.none()
    serializer_class = TicketSerializer
    lookup_field = "key"
    lookup_value_regex = TICKET_KEY_PATTERN
    filter_backends = [DjangoFilterBackend, TicketOrderingFilter]
    filterset_class = TicketFilter
    pagination_class = TicketCursorPagination
    conflicts = {
        "transition": "The ticket is already in that stage, or no transition of its workflow "
        "leads there from its current stage.",
    }

    def get_queryset(self) -> QuerySet[Ticket]:
        return selectors.ticket_list(user=signed_in_user(self.request))

    def get_object(self) -> Ticket:
        ticket = selectors.ticket_get(user=signed_in_user(self.request), key=self.kwargs["key"])
        if ticket is None:
            raise NotFound("No such ticket.")
        return ticket

    def _ticket_response(self, ticket: Ticket, *, created: bool = False) -> Response:
        # Read back through the selector: the row a service returns is locked and fresh but
        # lacks the related rows a ticket shows (one query instead of one per relation).
        try:
            data = self._ticket_data(ticket)
        except (OperationalError, InterfaceError):
            # The change has committed: a database connection lost since (a failover, a
            # terminated backend) must not answer 500 and make the client repeat it. Read
            # it back once more on a fresh connection (tests/test_faults.py).
            if connection.in_atomic_block:
                raise
            connection.close()
            data = self._ticket_data(ticket)
        headers = {"ETag": f'"{data["version"]}"'}
        if created:
            headers["Location"] = data["url"]
            return Response(data, status=status.HTTP_201_CREATED, headers=headers)
        return Response(data, headers=headers)

    def _ticket_data(self, ticket: Ticket) -> Any:
        shown = selectors.ticket_get(user=signed_in_user(self.request), key=ticket.key) or ticket
        return self.get_serializer(shown).data

    @extend_schema(responses=TicketSerializer(many=True), parameters=TICKET_FILTER_PARAMETERS)
    def list(self, request: Request) -> Response:
        """Tickets the caller may see, newest first unless ``ordering`` says otherwise,
        one cursor page at a time: follow ``next`` and ``previous``.

        Agents also filter by custom fields (/api/fields/): ``field.<name>=<value>``, the
        value read as the field's type (``field.count=3``, ``field.cost=12.50``,
        ``field.urgent=true``, a date as ``2026-12-07``, a user by id); for a multiple
        choice field, the tickets whose choices include it. Several ``field.`` parameters
        must all hold. A name no field has, or a value its type refuses, is a 400 under
        that parameter's name; requesters get 403. Served by one index for every field
        (docs/custom-fields.md). They also sort by one, ``ordering=field.<name>`` (see
        the ``ordering`` parameter), tickets without a value last."""
        tickets = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(tickets)
        with_snippets(request, page)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=TicketCreateSerializer, responses={201: TicketSerializer})
    def create(self, request: Request) -> Response:
        """Open a ticket (source API). Agents may open it for another requester and
        assign it; requesters open tickets for themselves."""
        serializer = TicketCreateSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        ticket = services.ticket_create(
            requester=data.get("requester") or signed_in_user(request),
            title=data["title"],
            description=data["description"],
            priority=data["priority"],
            workflow=data.get("workflow"),
            assignee=data.get("assignee"),
            source=Source.API,
            actor=signed_in_user(request),
            custom_fields=data.get("custom_fields"),
        )
        return self._ticket_response(ticket, created=True)

    @extend_schema(parameters=[ETAG])
    def retrieve(self, request: Request, key: str) -> Response:
        """The ticket; its ``ETag`` header is its version, for ``If-Match`` on changes."""
        ticket = self.get_object()
        return Response(self.get_serializer(ticket).data, headers={"ETag": etag(ticket)})

    @extend_schema(
        request=TicketUpdateSerializer,
        responses={200: TicketSerializer, 412: STALE},
        parameters=[IF_MATCH, ETAG],
    )
    def partial_update(self, request: Request, key: str) -> Response:
        """Change title and description; agents also priority, assignee, team, tags and
        custom field values. The stage changes only through ``transition/``."""
        ticket = self.get_object()
        serializer = TicketUpdateSerializer(
            data=request.data, partial=True, context={"request": request}
        )
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        assign = "assignee" in fields
        assignee = fields.pop("assignee", None)
        tags = fields.pop("tags", None)
        move = "team" in fields
        team = fields.pop("team", None)
        # All or nothing: a refused assignee must not leave a changed title behind.
        with transaction.atomic():
            check_if_match(request, ticket)
            if move:
                services.ticket_set_team(ticket=ticket, team=team, actor=signed_in_user(request))
            if fields:
                services.ticket_update(ticket=ticket, actor=signed_in_user(request), data=fields)
            if assign:
                services.ticket_assign(
                    ticket=ticket, assignee=assignee, actor=signed_in_user(request)
                )
            if tags is not None:
                services.ticket_tags_set(ticket=ticket, tags=tags, actor=signed_in_user(request))
        return self._ticket_response(ticket)

    @extend_schema(
        request=TicketTransitionSerializer,
        responses={200: TicketSerializer, 412: STALE},
        parameters=[IF_MATCH, ETAG],
    )
    @action(detail=True, methods=["post"])
    def transition(self, request: Request, key: str) -> Response:
        """Move the ticket to another stage along an allowed transition of its workflow.
        Requesters may take only the transitions marked ``requester_allowed``."""
        ticket = self.get_object()
        serializer = TicketTransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            check_if_match(request, ticket)
            services.ticket_transition(
                ticket=ticket,
                to_stage=serializer.validated_data["stage"],
                actor=signed_in_user(request),
            )
        return self._ticket_response(ticket)

    @extend_schema(
        request=TicketAssignSerializer,
        responses={200: TicketSerializer, 412: STALE},
        parameters=[IF_MATCH, ETAG],
    )
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, key: str) -> Response:
        """Give the ticket to an active agent, or unassign it with null. Agents only."""
        ticket = self.get_object()
        serializer = TicketAssignSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            check_if_match(request, ticket)
            services.ticket_assign(
                ticket=ticket,
                assignee=serializer.validated_data["assignee"],
                actor=signed_in_user(request),
            )
        return self._ticket_response(ticket)

    @extend_schema(methods=["GET"], responses=CommentSerializer(many=True))
    @extend_schema(
        methods=["POST"],
        request={
            # Files travel only in multipart: a JSON body has no attachments.
            "application/json": inline_serializer(
                "CommentCreateJSON",
                {
                    "body": serializers.CharField(
                        trim_whitespace=False, validators=[COMMENT_BODY_NOT_BLANK]
                    ),
                    "is_internal": serializers.BooleanField(
                        default=False, help_text="Agents only: a note requesters never see."
                    ),
                },
            ),
            "multipart/form-data": CommentCreateSerializer,
        },
        responses={201: CommentSerializer, 412: STALE},
        parameters=[IF_MATCH],
    )
    @action(
        detail=True,
        methods=["get", "post"],
        parser_classes=[JSONParser, MultiPartParser],
        filter_backends=[],
        pagination_class=DefaultPagination,
    )
    def comments(self, request: Request, key: str) -> Response:
        """The ticket's comments, oldest first (requesters never get internal ones), or
        add one: JSON, or multipart/form-data with ``attachments`` files."""
        ticket = self.get_object()
        context = {**self.get_serializer_context(), "ticket": ticket}
        if request.method == "GET":
            page = self.paginate_queryset(
                selectors.comment_list(user=signed_in_user(request), ticket=ticket)
            )
            data = CommentSerializer(page, many=True, context=context).data
            return self.get_paginated_response(data)

        serializer = CommentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            check_if_match(request, ticket)
            comment = services.comment_create(
                ticket=ticket,
                author=signed_in_user(request),
                body=serializer.validated_data["body"],
                is_internal=serializer.validated_data["is_internal"],
                attachments=serializer.validated_data["attachments"],
            )
        return Response(
            CommentSerializer(comment, context=context).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "attachment_id",
                # What the route's pattern takes (below): 1 to 18 digits, no leading zero.
                {"type": "integer", "minimum": 1, "maximum": 10**18 - 1},
                OpenApiParameter.PATH,
            )
        ],
        responses={
            (200, "*/*"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The file, as an attachment download."
            )
        },
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"attachments/(?P<attachment_id>[1-9][0-9]{0,17})",
        url_name="attachment",
        filter_backends=[],
        pagination_class=None,
    )
    def attachment(self, request: Request, key: str, attachment_id: str) -> HttpResponseBase:
        """Download an attachment of a comment the caller may read (requesters never get
        the files of internal comments)."""
        ticket = self.get_object()
        readable = selectors.comment_list(user=signed_in_user(request), ticket=ticket)
        attachment = Attachment.objects.filter(pk=attachment_id, comment__in=readable).first()
        if attachment is None:
            raise NotFound("No such attachment.")
        try:
            file = attachment.file.open("rb")
        except FileNotFoundError as exc:
            logger.error("The file of attachment %s is missing: %s", attachment.pk, exc)
            raise NotFound("The file of this attachment is missing.") from exc
        return attachment_response(
            file,
            filename=attachment.filename,
            content_type=attachment.content_type,
            request=request._request,
        )

    @extend_schema(methods=["GET"], responses=WatcherSerializer(many=True))
    @extend_schema(methods=["POST"], request=WatchSerializer, responses={201: WatcherSerializer})
    @extend_schema(
        methods=["DELETE"], request=None, parameters=[USER_PARAMETER], responses={204: None}
    )
    @action(
        detail=True,
        methods=["get", "post", "delete"],
        filter_backends=[],
        pagination_class=DefaultPagination,
    )
    def watchers(self, request: Request, key: str) -> Response:
        """Who watches the ticket; add a watcher (``{user}``, default the caller; adding
        twice is harmless); or remove one (``?user=`` or ``{user}``, default the caller).
        Requesters can only add or remove themselves."""
        ticket = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(selectors.watcher_list(ticket=ticket))
            data = WatcherSerializer(page, many=True, context=self.get_serializer_context()).data
            return self.get_paginated_response(data)

        given = request.data if request.method == "POST" or request.data else request.query_params
        serializer = WatchSerializer(data=given, context={"request": request})
        serializer.is_valid(raise_exception=True)
        user: User = serializer.validated_data.get("user") or signed_in_user(request)
        if request.method == "POST":
            watcher: TicketWatcher = services.ticket_watch(
                ticket=ticket, user=user, actor=signed_in_user(request)
            )
            return Response(WatcherSerializer(watcher).data, status=status.HTTP_201_CREATED)
        services.ticket_unwatch(ticket=ticket, user=user, actor=signed_in_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        methods=["POST"], request=PresenceBeatSerializer, responses={200: PresenceSerializer}
    )
    @extend_schema(methods=["DELETE"], request=None, responses={204: None})
    @action(detail=True, methods=["post", "delete"], filter_backends=[], pagination_class=None)
    def presence(self, request: Request, key: str) -> Response:
        """Agents only: the ticket page's heartbeat (every 10 s; ``composing`` while
        writing a reply). Answers who else is on the ticket now, the ticket's version and
        its newest public comment, so that a page loaded earlier can warn that the ticket
        moved on. DELETE: the caller left the page (docs/collision.md)."""
        ticket = self.get_object()
        user = signed_in_user(request)
        if request.method == "DELETE":
            presence_services.presence_leave(ticket=ticket, user=user)
            return Response(status=status.HTTP_204_NO_CONTENT)
        serializer = PresenceBeatSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        presence_services.presence_beat(
            ticket=ticket, user=user, composing=serializer.validated_data["composing"]
        )
        data = {
            "others": presence_services.presence_others(ticket=ticket, user=user),
            "version": ticket.version,
            "newest_public_comment_id": presence_services.ticket_newest_public_comment_id(
                ticket=ticket
            ),
        }
        return Response(PresenceSerializer(data).data)

    @extend_schema(responses=HistorySerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=DefaultPagination)
    def history(self, request: Request, key: str) -> Response:
        """Every change of the ticket, oldest first: who changed which field from what to
        what."""
        ticket = self.get_object()
        rows = selectors.history_list(ticket=ticket)
        if not getattr(request.user, "is_agent", False):
            # Custom field values are the desk's own records (custom_fields is null for
            # requesters): so are their changes.
            rows = rows.exclude(field__startswith="field.")
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(HistorySerializer(page, many=True).data)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, StaleTicketError):
            return stale_response(exc)
        return super().handle_exception(exc)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if request.method in {"POST", "PATCH", "DELETE"}:
            refuse_oversized_body(request, with_attachments=self.action == "comments")

    def perform_content_negotiation(
        self, request: Request, force: bool = False
    ) -> tuple[BaseRenderer, str]:
        # A download answers whatever the client accepts (a browser sends Accept: image/*
        # and the like); only JSON renderers are configured, so negotiation would fail
        # with 406 before the view runs. Errors on that route still render as JSON.
        return super().perform_content_negotiation(
            request, force=force or self.action == "attachment"
        )


def refuse_oversized_body(request: Request, *, with_attachments: bool) -> None:
    """413 for a declared body larger than the view could accept, before it is read.

    Django's DATA_UPLOAD_MAX_MEMORY_SIZE guards ``request.body`` and form fields, but DRF's
    JSON parser reads the stream itself, whatever its size; and multipart files would be
    spooled to disk only for the service to refuse them. A multipart comment may carry
    the most and largest attachments allowed on top of the usual limit.
    """
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None:
        return
    if with_attachments and request.content_type.startswith("multipart/"):
        limit += settings.NIXFLOW_MAX_ATTACHMENTS * settings.NIXFLOW_MAX_ATTACHMENT_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    if length > limit:
        raise PayloadTooLarge(f"The request body is {length} bytes; the limit is {limit}.")


@config_schema(read=WorkflowSerializer, write=WorkflowWriteSerializer)
class WorkflowViewSet(ConfigViewSet[Workflow]):
    """Workflows with their stages (in order) and the transitions allowed between them.

    Every authenticated user reads them, so that clients can show the lifecycle and offer
    the next stages; admins create, change and delete them, through the same services as
    the admin's workflow editor (one ``workflow.*`` event per change).
    """

    serializer_class = WorkflowSerializer
    write_serializer_class = WorkflowWriteSerializer
    writes = ConfigWrites(
        # workflow_create takes the workflow's fields as arguments, not as ``data``.
        create=lambda *, actor, data, **specs: services.workflow_create(
            actor=actor, **specs, **data
        ),
        update=services.workflow_update,
        delete=services.workflow_delete,
    )
    filter_backends: list[Any] = []
    permission_classes = [IsAuthenticated, IsAdminOrReadOnly]
    conflicts = {
        "update": "A stage left out still has tickets.",
        "partial_update": "A stage left out still has tickets.",
        "destroy": "The workflow has tickets or configuration names it: deactivate it instead.",
    }
    # Three queries whatever the number of workflows: workflows, stages, transitions.
    queryset = Workflow.objects.prefetch_related(
        Prefetch("stages", queryset=Stage.objects.order_by("position")),
        Prefetch("transitions", queryset=Transition.objects.all()),
    )

    def _arguments(self, data: dict[str, Any]) -> dict[str, Any]:
        # The stages and transitions, when sent, are the services' own arguments (the
        # complete lists); left out, an update keeps them as they are.
        specs: dict[str, Any] = {}
        if "stages" in data:
            specs["stages"] = [services.StageSpec(**stage) for stage in data.pop("stages")]
        if "transitions" in data:
            specs["transitions"] = [
                services.TransitionSpec(**transition) for transition in data.pop("transitions")
            ]
        return specs
