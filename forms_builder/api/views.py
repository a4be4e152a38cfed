"""The form builder's API: forms (CRUD with nested fields), a published form's schema and
submit endpoint, and submissions. Each view validates with a serializer, calls one
service or selector, and serializes the result: serializers never write, so the API and
the admin make the same change through the same service, with the same event."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django.http import QueryDict
from django.urls import reverse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotAuthenticated, NotFound, ParseError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle

from forms_builder import selectors, services
from forms_builder.api.serializers import (
    CustomFormSerializer,
    FormSchemaSerializer,
    FormStatusSerializer,
    SubmissionRejectSerializer,
    SubmissionSerializer,
    SubmitResultSerializer,
)
from forms_builder.models import (
    CustomForm,
    FormField,
    FormFieldType,
    FormStatus,
    FormSubmission,
    FormSubmissionStatus,
    SubmitterIdentity,
)
from forms_builder.rendering import SUBMITTER_EMAIL
from forms_builder.throttling import FormSubmitAnonThrottle
from forms_builder.validation import Definition
from forms_builder.views import client_ip
from nixflow.api.parsers import JSONParser
from nixflow.api.views import refuse_oversized_body
from nixflow.models import Ticket
from nixflow.toolkit.auth import signed_in_user
from nixflow.toolkit.filters import UTCDateTimeFilter

NOT_ANSWERS = frozenset({SUBMITTER_EMAIL, "csrfmiddlewaretoken"})
FAILED_MESSAGE = (
    "We have received your answers, but could not open a ticket for them yet. "
    "The service desk has been told and will follow up."
)
AWAITING_MESSAGE = (
    "We have received your answers and sent a confirmation link to the address given; "
    "the ticket is opened under that account once its owner confirms."
)


class IsAgent(BasePermission):
    message = "Only agents and admins can do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and getattr(request.user, "is_agent", False))


def _published_for(request: Request, slug: str) -> CustomForm:
    """The published form, or 404 (drafts and archived forms included); 401/403 for an
    anonymous caller of a login-required form."""
    form = selectors.form_get_published(slug=slug)
    if form is None:
        raise NotFound("No such form.")
    if form.login_required and not request.user.is_authenticated:
        raise NotAuthenticated("Sign in (a token or a session) to use this form.")
    return form


SUBMIT_REQUEST = {
    "type": "object",
    "description": "Answers by field key (see the form's schema), plus `submitter_email` "
    "for anonymous callers of a public form. JSON, or multipart/form-data when the form "
    "has file fields (a multiple-choice answer repeats its key).",
    "additionalProperties": True,
}


class FormViewSet(viewsets.GenericViewSet):
    """Forms, addressed by slug. Agents and admins see and design every form; other
    users list the published ones. ``schema/`` and ``submit/`` serve published forms to
    anyone allowed to fill them in (everyone, for a public form)."""

    queryset = CustomForm.objects.none()
    serializer_class = CustomFormSerializer
    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    filter_backends: list[Any] = []
    conflicts = {
        "set_status": "The form cannot be published as it is defined (the messages say why).",
        "destroy": "The form has submissions: archive it instead.",
    }

    def get_permissions(self) -> list[BasePermission]:
        if self.action in {"form_schema", "submit"}:
            return [AllowAny()]
        if self.action in {"list", "retrieve"}:
            return [IsAuthenticated()]
        return [IsAuthenticated(), IsAgent()]

    def get_throttles(self) -> list[BaseThrottle]:
        if self.action == "submit":
            return [FormSubmitAnonThrottle()]
        return super().get_throttles()

    def get_queryset(self) -> QuerySet[CustomForm]:
        return selectors.form_list(user=signed_in_user(self.request))

    def get_object(self) -> CustomForm:
        form = self.get_queryset().filter(slug=self.kwargs["slug"]).first()
        if form is None:
            raise NotFound("No such form.")
        return form

    def _form_response(self, form: CustomForm, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=form.pk)
        return Response(self.get_serializer(fresh).data, status=code)

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, slug: str) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(responses={201: CustomFormSerializer})
    def create(self, request: Request) -> Response:
        """Create a draft form with its fields; publish it with ``status/``."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        items = data.pop("fields", [])
        form = CustomForm(**data)
        fields, _ = services.form_fields_from_data(form=None, items=items)
        services.form_create(form=form, fields=fields, actor=signed_in_user(request))
        return self._form_response(form, status.HTTP_201_CREATED)

    def update(self, request: Request, slug: str) -> Response:
        """Replace the form's settings and fields (fields matched by key)."""
        return self._update(request, partial=False)

    def partial_update(self, request: Request, slug: str) -> Response:
        """Change some settings; ``fields``, when given, is the complete new list."""
        return self._update(request, partial=True)

    def _update(self, request: Request, *, partial: bool) -> Response:
        form = self.get_object()
        serializer = self.get_serializer(form, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        changed: list[FormField] = []
        deleted: list[FormField] = []
        if "fields" in data or not partial:
            changed, deleted = services.form_fields_from_data(
                form=form, items=data.pop("fields", [])
            )
        for name, value in data.items():
            setattr(form, name, value)
        services.form_update(
            form=form, changed_fields=changed, deleted_fields=deleted, actor=signed_in_user(request)
        )
        return self._form_response(form)

    def destroy(self, request: Request, slug: str) -> Response:
        """Delete a form that has no submissions; archive the others."""
        services.form_delete(form=self.get_object(), actor=signed_in_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=FormStatusSerializer, responses=CustomFormSerializer)
    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request: Request, slug: str) -> Response:
        """Publish, withdraw (``draft``) or archive the form. Publishing checks the
        whole definition."""
        serializer = FormStatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        form = services.form_set_status(
            form=self.get_object(),
            status=FormStatus(serializer.validated_data["status"]),
            actor=signed_in_user(request),
        )
        return self._form_response(form)

    @extend_schema(responses=FormSchemaSerializer)
    @action(detail=True, methods=["get"], url_path="schema", url_name="schema")
    def form_schema(self, request: Request, slug: str) -> Response:
        """A published form's fields and rules, to render it and validate answers
        client-side (the server validates again). 404 for drafts and archived forms;
        401 for anonymous callers of a login-required form."""
        form = _published_for(request, slug)
        definition = Definition.from_form(form)
        fields = []
        for spec in definition.fields:
            item = spec.to_dict()
            item.pop("ticket_field")  # the desk's own records: not the public's business
            item["max_file_size"] = spec.max_size if spec.type == FormFieldType.FILE else None
            fields.append(item)
        data = {
            "slug": form.slug,
            "name": form.name,
            "description": form.description,
            "version": form.version,
            "login_required": form.login_required,
            "submitter_email_required": not request.user.is_authenticated,
            "submit_url": request.build_absolute_uri(
                reverse("form-submit", kwargs={"slug": form.slug})
            ),
            "fields": fields,
        }
        return Response(FormSchemaSerializer(data).data)

    @extend_schema(
        request={
            "application/json": SUBMIT_REQUEST,
            "multipart/form-data": SUBMIT_REQUEST,
        },
        responses={
            201: SubmitResultSerializer,
            202: OpenApiResponse(
                SubmitResultSerializer,
                description="Answers kept, no ticket yet: it could not be opened "
                "(status `failed`; staff retry it), or the address given belongs to an "
                "account whose owner must confirm first (status `awaiting`).",
            ),
            400: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="Messages by field key, e.g. "
                '`{"email": ["Enter a valid e-mail address, like name@example.com."]}`.',
            ),
        },
        examples=[
            OpenApiExample(
                "Report an outage",
                value={"submitter_email": "ann@example.com", "service": "VPN", "impact": "My team"},
                request_only=True,
            )
        ],
    )
    @action(detail=True, methods=["post"], parser_classes=[JSONParser, MultiPartParser, FormParser])
    def submit(self, request: Request, slug: str) -> Response:
        """Fill in a published form: the answers are validated field by field and become
        a ticket (the caller, or the requester with ``submitter_email``, requests it)."""
        form = _published_for(request, slug)
        user = request.user if request.user.is_authenticated else None
        payload = request.data
        if isinstance(payload, QueryDict):
            files = {key: request.FILES.getlist(key) for key in request.FILES}
            data: dict[str, Any] = {
                key: payload.getlist(key)
                for key in payload
                if key not in files and key not in NOT_ANSWERS
            }
            email = payload.get(SUBMITTER_EMAIL, "")
        elif isinstance(payload, dict):
            files = {}
            data = {key: value for key, value in payload.items() if key not in NOT_ANSWERS}
            email = payload.get(SUBMITTER_EMAIL, "")
        else:
            raise ParseError("Send a JSON object of answers by field key.")
        submission = services.submission_create(
            form=form,
            data=data,
            files=files,
            submitter=user,
            submitter_email=email if isinstance(email, str) else "",
            ip_address=client_ip(request),
            site=request.build_absolute_uri("/"),
        )
        message = {
            FormSubmissionStatus.FAILED: FAILED_MESSAGE,
            FormSubmissionStatus.AWAITING_CONFIRMATION: AWAITING_MESSAGE,
        }.get(FormSubmissionStatus(submission.status), form.success_message)
        result = {
            "id": submission.pk,
            "status": submission.status,
            "ticket": Ticket.key_for(submission.ticket_id) if submission.ticket_id else None,
            "message": message,
        }
        return Response(
            SubmitResultSerializer(result).data,
            status=status.HTTP_201_CREATED if submission.ticket_id else status.HTTP_202_ACCEPTED,
        )

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if request.method in {"POST", "PUT", "PATCH"}:
            refuse_oversized_body(request, with_attachments=self.action == "submit")


class SubmissionFilter(django_filters.FilterSet):
    form = django_filters.CharFilter(field_name="form__slug", label="The form's slug.")
    status = django_filters.ChoiceFilter(choices=FormSubmissionStatus.choices)
    identity = django_filters.ChoiceFilter(choices=SubmitterIdentity.choices)
    created_after = UTCDateTimeFilter(field_name="created", lookup_expr="gte")
    created_before = UTCDateTimeFilter(field_name="created", lookup_expr="lt")

    class Meta:
        model = FormSubmission
        fields: list[str] = []


class SubmissionViewSet(viewsets.ReadOnlyModelViewSet):
    """Submissions, newest first, read through their snapshot. Agents see all of them
    and can retry (``convert/``) or ``reject/`` failed ones; requesters see their own."""

    queryset = FormSubmission.objects.none()
    serializer_class = SubmissionSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = SubmissionFilter
    lookup_value_regex = r"[1-9][0-9]{0,17}"
    conflicts = {
        "convert": "Only a received or failed submission can be converted.",
        "reject": "Only a received, failed or unconfirmed submission can be rejected.",
    }

    def get_permissions(self) -> list[BasePermission]:
        if self.action in {"convert", "reject"}:
            return [IsAuthenticated(), IsAgent()]
        return [IsAuthenticated()]

    def get_queryset(self) -> QuerySet[FormSubmission]:
        return selectors.submission_list(user=signed_in_user(self.request))

    def _response(self, submission: FormSubmission) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=submission.pk)).data)

    @extend_schema(request=None, responses=SubmissionSerializer)
    @action(detail=True, methods=["post"])
    def convert(self, request: Request, pk: str) -> Response:
        """Retry opening the ticket of a failed submission. The result says whether it
        worked (``converted``) or why not (``failed``, ``status_reason``)."""
        submission = services.submission_convert(
            submission=self.get_object(), actor=signed_in_user(request)
        )
        return self._response(submission)

    @extend_schema(request=SubmissionRejectSerializer, responses=SubmissionSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        """Set a failed or received submission aside without a ticket."""
        serializer = SubmissionRejectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        submission = services.submission_reject(
            submission=self.get_object(),
            actor=signed_in_user(request),
            reason=serializer.validated_data["reason"],
        )
        return self._response(submission)
