"""Reads of the form builder: which forms and submissions a user may see."""

from __future__ import annotations

from django.db.models import Count, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from forms_builder.models import (
    CustomForm,
    FormField,
    FormStatus,
    FormSubmission,
)
from nixflow.models import User


def form_get_published(*, slug: str) -> CustomForm | None:
    """The published form at ``slug`` with its fields, or None: drafts and archived
    forms are answered exactly like forms that don't exist."""
    return (
        CustomForm.objects.filter(slug=slug, status=FormStatus.PUBLISHED)
        .prefetch_related(Prefetch("fields", queryset=FormField.objects.order_by("order", "id")))
        .first()
    )


def form_list_published() -> QuerySet[CustomForm]:
    return CustomForm.objects.filter(status=FormStatus.PUBLISHED).order_by("name", "id")


def form_list(*, user: User) -> QuerySet[CustomForm]:
    """Agents see every form (they design them); others the published ones."""
    forms = CustomForm.objects.all()
    if not user.is_agent:
        forms = forms.filter(status=FormStatus.PUBLISHED)
    return forms.prefetch_related(
        Prefetch("fields", queryset=FormField.objects.order_by("order", "id"))
    ).order_by("name", "id")


def form_list_with_counts(queryset: QuerySet[CustomForm]) -> QuerySet[CustomForm]:
    """Forms with ``field_count`` and ``submission_count``, each a correlated count on
    its own index, so that the two don't multiply each other as joins would."""

    def count(model: type[FormField] | type[FormSubmission]) -> Coalesce:
        rows = model.objects.filter(form=OuterRef("pk")).order_by().values("form")
        return Coalesce(
            Subquery(rows.annotate(n=Count("*")).values("n"), output_field=IntegerField()), 0
        )

    return queryset.annotate(field_count=count(FormField), submission_count=count(FormSubmission))


def submission_visibility_filter(user: User) -> Q:
    """Agents see every submission; requesters their own."""
    return Q() if user.is_agent else Q(submitter=user)


def submission_list(*, user: User) -> QuerySet[FormSubmission]:
    return (
        FormSubmission.objects.filter(submission_visibility_filter(user))
        .select_related("form", "submitter", "ticket")
        .prefetch_related("attachments")
        .order_by("-created", "-id")
    )


def submission_versions(*, form: CustomForm) -> list[dict]:
    """One snapshot per version of ``form`` that has submissions, oldest first: the
    columns of a CSV export (DISTINCT ON the (form, form_version) index)."""
    return list(
        FormSubmission.objects.filter(form=form)
        .order_by("form_version", "id")
        .distinct("form_version")
        .values_list("form_snapshot", flat=True)
    )
