"""The form designer and the submissions, in the admin.

Staff design a form with its fields inline (ordered by their number), preview it as
requesters will see it (answers are validated by the same engine and the ticket it would
open is shown, nothing is stored), publish or archive it with list actions, and export
its submissions as CSV. Every save goes through ``forms_builder.services`` (the same
services the API calls, which record ``form.created``/``form.updated``/``form.deleted``
and the status events), so the generic ``admin.*`` events are switched off here; agents
design forms, admins also delete unused ones.

Submissions show how their submitter is known: verified (signed in, or confirmed through
the link mailed to the account) or not, with a filter for it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef, QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.template.defaultfilters import linebreaksbr
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy, ngettext, pgettext_lazy

from forms_builder import export, selectors, services
from forms_builder.answers import answers, ticket_content
from forms_builder.models import (
    FIELD_SETTINGS,
    CustomForm,
    FormField,
    FormStatus,
    FormSubmission,
    FormSubmissionAttachment,
)
from forms_builder.rendering import error_summary, page_fields, posted_answers
from forms_builder.validation import Definition, clean_submission, definition_errors
from forms_builder.views import error_dict
from nixflow.models import Ticket, User
from nixflow.toolkit.admin import (
    ADD,
    CHANGE,
    EVERYTHING,
    READ_ONLY,
    VIEW,
    RolePermissionsMixin,
    bulk_apply,
)
from nixflow.toolkit.auth import signed_in_user
from nixflow.toolkit.config_admin import ConfigurationAdmin
from nixflow.toolkit.downloads import attachment_response

DESIGN = frozenset({VIEW, ADD, CHANGE})


# --- The designer -------------------------------------------------------------------------
class ChoicesField(forms.CharField):
    """A list of options edited as lines of text."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 40})

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, list):
            return "\n".join(str(item) for item in value)
        return "" if value is None else str(value)

    # A CharField for its widget and text validators, whose value is the list of lines
    # (the stubs expect a CharField to produce a str).
    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        if isinstance(value, list):
            return value
        return [line.strip() for line in (value or "").splitlines() if line.strip()]


class FormFieldForm(ModelForm):
    choices = ChoicesField(
        required=False,
        help_text=gettext_lazy(
            "One option per line (drop-down, radio and multiple-choice fields)."
        ),
    )

    class Meta:
        model = FormField
        fields = (
            "order",
            "key",
            "field_type",
            "required",
            "label",
            *FIELD_SETTINGS,
            "visible_when_field",
            "visible_when_value",
            "ticket_field",
        )


class FormFieldInlineFormSet(BaseInlineFormSet):
    """Checks the fields together, as a published form will be served: unique keys,
    visibility rules that point at real fields without a loop, the ticket mapping."""

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        rows = [
            form.instance
            for form in self.forms
            # _should_delete_form: BaseFormSet's own test, private and so not in the stubs.
            if (form.instance.pk or form.has_changed()) and not self._should_delete_form(form)  # type: ignore[attr-defined]
        ]
        problems = definition_errors(
            self.instance, rows, publishing=self.instance.status == FormStatus.PUBLISHED
        )
        if problems:
            raise ValidationError(problems)


class FormFieldInline(RolePermissionsMixin, admin.StackedInline):
    model = FormField
    form = FormFieldForm
    formset = FormFieldInlineFormSet
    agent_actions = EVERYTHING  # removing a question is part of designing the form
    ordering = ("order", "id")
    extra = 0
    fieldsets = (
        (None, {"fields": (("order", "key", "field_type", "required"), "label")}),
        (None, {"fields": ("help_text", "placeholder", "choices")}),
        (
            gettext_lazy("Validation"),
            {
                "classes": ("collapse",),
                "fields": (
                    ("min_length", "max_length"),
                    ("min_value", "max_value"),
                    ("pattern", "pattern_message"),
                    ("max_file_size", "allowed_file_types"),
                ),
            },
        ),
        (
            gettext_lazy("Shown only when"),
            {"classes": ("collapse",), "fields": (("visible_when_field", "visible_when_value"),)},
        ),
        (gettext_lazy("Ticket field"), {"classes": ("collapse",), "fields": ("ticket_field",)}),
    )

    def get_extra(self, request: HttpRequest, obj: CustomForm | None = None, **kwargs: Any) -> int:
        return 3 if obj is None else 1


@admin.register(CustomForm)
class CustomFormAdmin(ConfigurationAdmin):
    """Saved with its fields and deleted through the form services, which record the
    ``form.*`` events (so no generic ``admin.*`` ones)."""

    agent_actions = DESIGN
    list_display = (
        "name",
        "slug",
        "status",
        "login_required",
        "field_count",
        "submission_count",
        "version",
        "links",
    )
    list_filter = ("status", "login_required")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("status", "version", "created", "updated", "links")
    inlines = [FormFieldInline]
    actions = ["publish", "withdraw", "archive"]
    fieldsets = (
        (None, {"fields": ("name", "slug", "description", ("status", "version"), "links")}),
        (
            gettext_lazy("The ticket it opens"),
            {
                "fields": (
                    ("workflow", "default_priority"),
                    "title_template",
                    "description_field",
                    ("priority_field", "priority_map"),
                )
            },
        ),
        (gettext_lazy("Who and after"), {"fields": ("login_required", "success_message")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[CustomForm]:
        return selectors.form_list_with_counts(super().get_queryset(request))

    @admin.display(description=gettext_lazy("fields"), ordering="field_count")
    def field_count(self, form: CustomForm) -> int:
        return getattr(form, "field_count", 0)

    @admin.display(description=gettext_lazy("submissions"), ordering="submission_count")
    def submission_count(self, form: CustomForm) -> int:
        return getattr(form, "submission_count", 0)

    @admin.display(description=pgettext_lazy("verb", "open"))
    def links(self, form: CustomForm) -> SafeString | str:
        if form.pk is None:
            return "—"
        items = [
            (reverse("admin:forms_builder_customform_preview", args=[form.pk]), gettext("Preview")),
            (
                reverse("admin:forms_builder_formsubmission_changelist")
                + f"?form__id__exact={form.pk}",
                gettext("Submissions"),
            ),
            (reverse("admin:forms_builder_customform_export", args=[form.pk]), gettext("CSV")),
        ]
        if form.status == FormStatus.PUBLISHED:
            items.insert(0, (reverse("forms_builder:form", args=[form.slug]), gettext("Page")))
        return format_html_join(" · ", '<a href="{}">{}</a>', items)

    # -- saving through the services ------------------------------------------------------
    def service_data(self, form: ModelForm, change: bool) -> dict[str, Any]:
        return {}  # the form services take the model form's instance itself

    def service_rows(self, formsets: list[Any], change: bool) -> dict[str, Any]:
        # The form services take the field rows themselves, saved or not.
        rows: dict[str, Any] = {"changed": [], "deleted": []}
        for formset in formsets:
            if formset.model is FormField:
                rows = {
                    "changed": formset.save(commit=False),
                    "deleted": list(formset.deleted_objects),
                }
        return rows

    def create_with(
        self, obj: CustomForm, actor: User, data: dict[str, Any], rows: dict[str, Any]
    ) -> CustomForm:
        return services.form_create(form=obj, fields=rows["changed"], actor=actor)

    def update_with(
        self, obj: CustomForm, actor: User, data: dict[str, Any], rows: dict[str, Any]
    ) -> CustomForm:
        return services.form_update(
            form=obj, changed_fields=rows["changed"], deleted_fields=rows["deleted"], actor=actor
        )

    def delete_with(self, obj: CustomForm, actor: User) -> None:
        services.form_delete(form=obj, actor=actor)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        """Forms with submissions can't be deleted: say so without listing every
        submission, which Django's confirmation page would do one by one."""
        pks = [form.pk for form in objs]
        used = CustomForm.objects.filter(pk__in=pks).filter(
            Exists(FormSubmission.objects.filter(form=OuterRef("pk")))
        )
        protected = [
            gettext("%(form)s: it has submissions (archive it instead)") % {"form": form.name}
            for form in used
        ]
        if protected:
            return [], {}, set(), protected
        return super().get_deleted_objects(objs, request)

    # -- status actions -------------------------------------------------------------------
    def _set_status(
        self, request: HttpRequest, queryset: QuerySet[CustomForm], status: FormStatus
    ) -> None:
        done, failures = 0, []
        for form in queryset:
            try:
                services.form_set_status(form=form, status=status, actor=signed_in_user(request))
                done += 1
            except (ValidationError, PermissionDenied) as error:
                failures.append(" ".join(getattr(error, "messages", [str(error)])))
        if done:
            self.message_user(
                request,
                gettext("%(count)s form(s) now %(status)s.")
                % {"count": done, "status": FormStatus(status).label.lower()},
                messages.SUCCESS,
            )
        for failure in failures:
            self.message_user(request, failure, messages.ERROR)

    @admin.action(description=gettext_lazy("Publish the selected forms"), permissions=["change"])
    def publish(self, request: HttpRequest, queryset: QuerySet[CustomForm]) -> None:
        self._set_status(request, queryset, FormStatus.PUBLISHED)

    @admin.action(
        description=gettext_lazy("Withdraw the selected forms (back to draft)"),
        permissions=["change"],
    )
    def withdraw(self, request: HttpRequest, queryset: QuerySet[CustomForm]) -> None:
        self._set_status(request, queryset, FormStatus.DRAFT)

    @admin.action(description=gettext_lazy("Archive the selected forms"), permissions=["change"])
    def archive(self, request: HttpRequest, queryset: QuerySet[CustomForm]) -> None:
        self._set_status(request, queryset, FormStatus.ARCHIVED)

    # -- preview and export ---------------------------------------------------------------
    # Route declarations, alike the article admin's: other pages.
    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/preview/",
                view(self.preview_view),
                name="forms_builder_customform_preview",
            ),
            path(
                "<path:object_id>/export/",
                view(self.export_view),
                name="forms_builder_customform_export",
            ),
            *super().get_urls(),
        ]

    def _form_or_404(self, request: HttpRequest, object_id: str) -> CustomForm:
        form = self.get_object(request, unquote(object_id))
        if form is None:
            raise Http404("No such form.")
        if not self.has_view_permission(request, form):
            raise PermissionDenied
        return form

    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The form as requesters will see it, drafts included. Sending it validates the
        answers and shows the ticket they would open; nothing is stored."""
        form = self._form_or_404(request, object_id)
        definition = Definition.from_form(form)
        values: dict[str, list[str]] | None = None
        errors: dict[str, list[str]] = {}
        outcome = None
        shown_answers = None
        if request.method == "POST":
            values = posted_answers(request.POST)
            try:
                cleaned = clean_submission(
                    definition, values, {key: request.FILES.getlist(key) for key in request.FILES}
                )
            except ValidationError as error:
                errors = error_dict(error)
            else:
                user = request.user
                outcome = ticket_content(
                    definition,
                    cleaned.data,
                    submitter=getattr(user, "email", "") or user.get_username(),
                    reference="preview",
                )
                shown_answers = answers(definition, cleaned.data)
        fields = page_fields(definition, values, errors)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": form,
            "title": gettext("Preview: %(form)s") % {"form": form.name},
            "fields": fields,
            "errors": errors,
            "error_summary": error_summary(fields, errors),
            "multipart": definition.has_files,
            "outcome": outcome,
            "answers": shown_answers,
        }
        return TemplateResponse(request, "admin/forms_builder/customform/preview.html", context)

    def export_view(self, request: HttpRequest, object_id: str) -> StreamingHttpResponse:
        """Every submission of the form as CSV, streamed (see forms_builder.export)."""
        form = self._form_or_404(request, object_id)
        submissions_admin = self.admin_site._registry.get(FormSubmission)
        if submissions_admin is None or not submissions_admin.has_view_permission(request):
            raise PermissionDenied
        response = StreamingHttpResponse(
            export.submissions_csv(form), content_type="text/csv; charset=utf-8"
        )
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = (
            f'attachment; filename="{form.slug}-submissions-{stamp}.csv"'
        )
        return response


# --- Submissions --------------------------------------------------------------------------
class SubmissionAttachmentInline(RolePermissionsMixin, admin.TabularInline):
    model = FormSubmissionAttachment
    agent_actions = admin_actions = READ_ONLY
    fields = ("field_key", "download", "size", "content_type", "sha256")
    readonly_fields = fields
    extra = 0

    @admin.display(description=gettext_lazy("file"))
    def download(self, attachment: FormSubmissionAttachment) -> SafeString:
        url = reverse(
            "admin:forms_builder_formsubmission_file",
            args=[attachment.submission_id, attachment.pk],
        )
        return format_html('<a href="{}">{}</a>', url, attachment.original_name)


@admin.register(FormSubmission)
class FormSubmissionAdmin(RolePermissionsMixin, admin.ModelAdmin):
    """Submissions read through their snapshot. Agents retry failed ones or reject them;
    nobody edits answers."""

    agent_actions = admin_actions = READ_ONLY
    record_admin_events = False  # read-only here; its actions call the services
    list_display = (
        "id",
        "form",
        "submitter_label",
        "identity",
        "status",
        "ticket_link",
        "created",
    )
    list_filter = ("status", "identity", "form", ("created", admin.DateFieldListFilter))
    list_select_related = ("form", "submitter")
    search_fields = ("=id", "submitter_email", "submitter__email", "submitter__username")
    search_help_text = gettext_lazy("A submission number or the submitter's e-mail address.")
    ordering = ("-created", "-id")
    show_full_result_count = False
    actions = ["convert", "reject", "resend_confirmation"]
    inlines = [SubmissionAttachmentInline]
    fields = (
        ("form", "form_version"),
        ("status", "status_reason"),
        "ticket_link",
        ("submitter", "submitter_email", "ip_address"),
        ("identity", "confirmed_at"),
        ("created", "updated"),
        "answer_table",
    )
    readonly_fields = (
        "form",
        "form_version",
        "status",
        "status_reason",
        "ticket_link",
        "submitter",
        "submitter_email",
        "ip_address",
        "identity",
        "confirmed_at",
        "created",
        "updated",
        "answer_table",
    )

    def has_convert_permission(self, request: HttpRequest) -> bool:
        return bool(self._actions(request))

    @admin.display(description=gettext_lazy("submitter"), ordering="submitter_email")
    def submitter_label(self, submission: FormSubmission) -> str:
        if submission.submitter is not None:
            return submission.submitter.email or submission.submitter.get_username()
        return submission.submitter_email

    @admin.display(description=gettext_lazy("ticket"), ordering="ticket_id")
    def ticket_link(self, submission: FormSubmission) -> SafeString | str:
        if not submission.ticket_id:
            return "—"
        url = reverse("admin:nixflow_ticket_change", args=[submission.ticket_id])
        return format_html('<a href="{}">{}</a>', url, Ticket.key_for(submission.ticket_id))

    @admin.display(description=gettext_lazy("answers (as the form read when submitted)"))
    def answer_table(self, submission: FormSubmission) -> SafeString:
        definition = Definition.from_snapshot(submission.form_snapshot)
        rows = format_html_join(
            "",
            "<tr><th>{}</th><td>{}</td></tr>",
            ((a.label, linebreaksbr(a.text)) for a in answers(definition, submission.data)),
        )
        return format_html('<table class="nf-answers">{}</table>', rows)

    @admin.action(description=gettext_lazy("Retry opening the ticket"), permissions=["convert"])
    def convert(self, request: HttpRequest, queryset: QuerySet[FormSubmission]) -> None:
        converted, failures = 0, []
        for submission in queryset:
            try:
                result = services.submission_convert(
                    submission=submission, actor=signed_in_user(request)
                )
            except (ValidationError, PermissionDenied) as error:
                failures.append(" ".join(getattr(error, "messages", [str(error)])))
                continue
            if result.ticket_id:
                converted += 1
            else:
                failures.append(
                    gettext("Submission %(number)s: %(reason)s")
                    % {"number": result.pk, "reason": result.status_reason}
                )
        if converted:
            self.message_user(
                request,
                gettext("%(count)s submission(s) converted.") % {"count": converted},
                messages.SUCCESS,
            )
        for failure in failures:
            self.message_user(request, failure, messages.ERROR)

    @admin.action(description=gettext_lazy("Reject (no ticket)"), permissions=["convert"])
    def reject(self, request: HttpRequest, queryset: QuerySet[FormSubmission]) -> None:
        rejected, failures = 0, []
        for submission in queryset:
            try:
                services.submission_reject(submission=submission, actor=signed_in_user(request))
                rejected += 1
            except (ValidationError, PermissionDenied) as error:
                failures.append(" ".join(getattr(error, "messages", [str(error)])))
        if rejected:
            self.message_user(
                request,
                gettext("%(count)s submission(s) rejected.") % {"count": rejected},
                messages.SUCCESS,
            )
        for failure in failures:
            self.message_user(request, failure, messages.ERROR)

    @admin.action(
        description=gettext_lazy("Send the confirmation mail again"), permissions=["convert"]
    )
    def resend_confirmation(self, request: HttpRequest, queryset: QuerySet[FormSubmission]) -> None:
        actor, site = signed_in_user(request), request.build_absolute_uri("/")
        sent = bulk_apply(
            self,
            request,
            queryset.order_by("pk"),
            lambda submission: services.confirmation_mail_resend(
                submission=submission, actor=actor, site=site
            ),
            label=lambda submission: gettext("Submission %(number)s") % {"number": submission.pk},
            failed="Could not send the confirmation mail of",
            noun="submission",
        )
        if sent:
            self.message_user(
                request,
                ngettext(
                    "Confirmation mail queued for %(count)s submission.",
                    "Confirmation mail queued for %(count)s submissions.",
                    sent,
                )
                % {"count": sent},
            )

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<path:object_id>/files/<int:attachment_id>/",
                self.admin_site.admin_view(self.file_view),
                name="forms_builder_formsubmission_file",
            ),
            *super().get_urls(),
        ]

    def file_view(
        self, request: HttpRequest, object_id: str, attachment_id: int
    ) -> HttpResponseBase:
        submission = self.get_object(request, unquote(object_id))
        if submission is None or not self.has_view_permission(request, submission):
            raise Http404("No such submission.")
        # Same shape as knowledge's API download: admin answers 404 pages, the API NotFound JSON.
        attachment = submission.attachments.filter(pk=attachment_id).first()
        if attachment is None:
            raise Http404("No such file.")
        try:
            handle = attachment.file.open("rb")
        except FileNotFoundError as exc:
            raise Http404("The file is missing from storage.") from exc
        return attachment_response(
            handle,
            filename=attachment.original_name,
            content_type=attachment.content_type,
            request=request,
        )
