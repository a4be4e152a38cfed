from __future__ import annotations

from typing import Any

import django_filters
from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from email_integration import accounts, outbound, services
from email_integration.api.serializers import (
    EmailAccountSerializer,
    EmailMessageSerializer,
    InboundAcceptedSerializer,
)
from email_integration.models import EmailAccount, EmailMessage
from nixflow.api.exceptions import PayloadTooLarge
from nixflow.api.filters import IdFilter
from nixflow.api.permissions import IsAdminOrAgentReadOnly, IsAgent
from nixflow.models import Ticket
from nixflow.toolkit.auth import signed_in_user


class RawMessageParser(BaseParser):
    """The body as bytes, for ``message/rfc822`` (a raw mail message)."""

    media_type = "message/rfc822"

    # DRF makes whatever a parser returns request.data (Request._parse); the stubs allow
    # only mappings, but this parser's data is the raw message.
    def parse(  # type: ignore[override]
        self, stream: Any, media_type: str | None = None, parser_context: Any = None
    ) -> bytes:
        limit = settings.EMAIL_MAX_MESSAGE_BYTES
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            raise PayloadTooLarge(f"The message is larger than {limit} bytes.")
        return data


class EmailAccountViewSet(viewsets.ModelViewSet):
    """Mail accounts: agents read, admins write, through ``email_integration.accounts``
    (the same services as the admin, so the same ``email.account.*`` events)."""

    queryset = EmailAccount.objects.select_related("workflow").order_by("name")
    serializer_class = EmailAccountSerializer
    permission_classes = [IsAdminOrAgentReadOnly]
    filter_backends: list = []

    def perform_create(self, serializer: BaseSerializer) -> None:
        serializer.instance = accounts.email_account_create(
            actor=signed_in_user(self.request), data=serializer.validated_data
        )

    def perform_update(self, serializer: BaseSerializer) -> None:
        assert isinstance(serializer.instance, EmailAccount)  # noqa: S101 -- an update's row
        serializer.instance = accounts.email_account_update(
            actor=signed_in_user(self.request),
            account=serializer.instance,
            data=serializer.validated_data,
        )

    def perform_destroy(self, instance: EmailAccount) -> None:
        accounts.email_account_delete(actor=signed_in_user(self.request), account=instance)


class EmailMessageFilter(django_filters.FilterSet):
    status = django_filters.CharFilter()
    message_type = django_filters.CharFilter()
    account = IdFilter(field_name="account_id")
    ticket = django_filters.CharFilter(method="filter_ticket")
    from_address = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = EmailMessage
        fields: list[str] = []

    def filter_ticket(self, queryset: Any, name: str, value: str) -> Any:
        return queryset.filter(ticket_id=Ticket.number_from_key(value.upper()) or 0)


class EmailMessageViewSet(viewsets.ReadOnlyModelViewSet):
    """Mail in and out, for agents; the raw message stays in the admin's raw view."""

    queryset = (
        EmailMessage.objects.select_related("ticket")
        .prefetch_related("attachments")
        .defer("raw", "text_body", "html_body")
        .order_by("-received_at", "-id")
    )
    serializer_class = EmailMessageSerializer
    permission_classes = [IsAgent]
    filter_backends = [django_filters.rest_framework.DjangoFilterBackend]
    filterset_class = EmailMessageFilter
    conflicts = {
        "resend": "Only an outbound message that failed can be resent.",
        "release": "Only a suspended message can be released.",
        "reject": "Only a suspended message can be rejected.",
    }

    @extend_schema(request=None, responses={200: EmailMessageSerializer})
    @action(detail=True, methods=["post"])
    def resend(self, request: Request, pk: str | None = None) -> Response:
        """Queue a failed outbound message again (409 for any other message)."""
        message = outbound.message_resend(actor=signed_in_user(request), message=self.get_object())
        return Response(EmailMessageSerializer(message).data)

    @extend_schema(request=None, responses={200: EmailMessageSerializer})
    @action(detail=True, methods=["post"])
    def release(self, request: Request, pk: str | None = None) -> Response:
        """Process a suspended message as its sender (409 for any other message; 403
        unless an admin, or the agent whose address it bears)."""
        message = services.message_release(actor=signed_in_user(request), message=self.get_object())
        return Response(EmailMessageSerializer(message).data)

    @extend_schema(request=None, responses={200: EmailMessageSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        """Keep a suspended message as rejected, never processed (409 for any other)."""
        message = services.message_reject(actor=signed_in_user(request), message=self.get_object())
        return Response(EmailMessageSerializer(message).data)


class InboundMessageView(APIView):
    """Deliver one raw message to an account, for mail servers that post rather than
    wait to be polled. Token-authenticated; agents and admins only (use a dedicated
    agent account for the mail server).

    The message is stored and answered with 202 and its id at once; it is read and
    turned into a ticket or comment by a worker (``services.message_accept``), so a
    hostile message (thousands of nested or separate MIME parts) costs the web process
    nothing. Its outcome is at ``/api/email/messages/{id}/``. Posting the same message
    again finds the stored one (``created`` false) and queues nothing new."""

    permission_classes = [IsAgent]
    parser_classes = [RawMessageParser]
    request_body_required = True
    throttle_scope = "mail_inbound"  # settings.THROTTLE_RATES

    @extend_schema(
        # The route's <int:>: digits only.
        parameters=[OpenApiParameter("account_id", {"type": "integer", "minimum": 0}, "path")],
        request={
            "message/rfc822": {
                "type": "string",
                "format": "binary",
                "minLength": 1,
                "description": "The raw message, as received; not empty.",
            }
        },
        responses={202: InboundAcceptedSerializer},
        examples=[OpenApiExample("raw", value="From: a@example.com\r\n\r\nHello")],
    )
    def post(self, request: Request, account_id: int) -> Response:
        account = get_object_or_404(EmailAccount, pk=account_id, is_active=True)
        raw = request.data
        if not isinstance(raw, bytes) or not raw.strip():
            raise ParseError("Send the raw message as the body, Content-Type: message/rfc822.")
        message, created = services.message_accept(account=account, raw=raw)
        return Response(
            InboundAcceptedSerializer(
                {"id": message.pk, "status": message.status, "created": created}
            ).data,
            status=status.HTTP_202_ACCEPTED,
        )
