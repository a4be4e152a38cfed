"""Forms of the staff UI (the admin). They validate input; nixflow/admin/ saves it
through nixflow.services, never with ``form.save()``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from django import forms
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from nixflow.models import DeskSettings, Stage, Ticket, Transition, User, Workflow
from nixflow.services.tags import split_tag_names


def _unix_newlines(value: str) -> str:
    # Browsers post textareas with CRLF; without this, saving an untouched description
    # would look like a change to the services.
    return value.replace("\r\n", "\n")


class StageChoiceField(forms.ModelChoiceField):
    """Stages labelled by name and category. (Stage.__str__ names the workflow too, which
    costs one query per option when the workflow isn't loaded.)"""

    def label_from_instance(self, obj: Stage) -> str:
        # The category says what the stage does to the clocks; a stage named after its
        # category says it already ("Open", not "Open (Open)").
        category = obj.get_category_display()
        return (
            obj.name if obj.name.casefold() == category.casefold() else f"{obj.name} ({category})"
        )


class WorkflowStageChoiceField(forms.ModelChoiceField):
    """Stages of every workflow, for the list page's "move to stage" action."""

    def label_from_instance(self, obj: Stage) -> str:
        return f"{obj.workflow.name}: {obj.name}"


# --- Tickets -----------------------------------------------------------------------------
class TicketAddForm(forms.ModelForm):
    workflow = forms.ModelChoiceField(
        queryset=Workflow.objects.filter(is_active=True),
        required=False,
        empty_label=_("Default workflow"),
        help_text=_("The ticket starts in the first stage of this workflow."),
    )

    class Meta:
        model = Ticket
        fields = ("title", "description", "priority", "workflow", "requester", "assignee")

    def clean_description(self) -> str:
        return _unix_newlines(self.cleaned_data["description"])


class TagNamesField(forms.CharField):
    """Tag names as a comma-separated list ("VPN, billing"): trimmed, each once
    regardless of case. The services match them to tags (and create new ones unless the
    list is locked)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 1000)
        super().__init__(**kwargs)

    def clean(self, value: Any) -> list[str]:
        text = super().clean(value)
        try:
            return split_tag_names(text) if text else []
        except ValidationError as error:  # the service's {"tags": ...}, as this field's
            raise ValidationError(error.messages) from error


def tags_help_text() -> str:
    if DeskSettings.load().tags_locked:
        return gettext("Comma-separated. The tag list is locked: only existing tags (see Tags).")
    return gettext("Comma-separated, e.g. “VPN, billing”. A new name adds the tag.")


class TicketChangeForm(forms.ModelForm):
    """Stage offers only where the ticket can go from where it is (and where it is)."""

    stage = StageChoiceField(queryset=Stage.objects.none())
    # Not the model's ``tags``: the admin's save_related would set the relation itself.
    # TicketAdmin.save_model saves them through services.ticket_tags_set.
    tag_names = TagNamesField(
        label=_("Tags"), widget=forms.TextInput(attrs={"class": "vTextField"})
    )

    class Meta:
        model = Ticket
        fields = ("title", "description", "priority", "stage", "assignee", "team")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        ticket = self.instance
        if "team" in self.fields:
            self.fields["team"].help_text = gettext(
                "Moving it is recorded; a team that assigns automatically may give it to "
                "one of its agents when nobody has it."
            )
        targets = Transition.objects.filter(from_stage=ticket.stage_id).values("to_stage")
        allowed = Stage.objects.filter(Q(pk=ticket.stage_id) | Q(pk__in=targets))
        stage = cast(StageChoiceField, self.fields["stage"])
        stage.queryset = allowed.order_by("position")
        names = [s.name for s in stage.queryset if s.pk != ticket.stage_id]
        allowed_text = ", ".join(names) if names else gettext("none (it is a final stage)")
        stage.help_text = gettext("Allowed from %(stage)s: %(allowed)s.") % {
            "stage": ticket.stage.name,
            "allowed": allowed_text,
        }
        stage.error_messages["invalid_choice"] = gettext(
            "%(key)s cannot move from %(stage)s to that stage. Allowed: %(allowed)s."
        ) % {"key": ticket.key, "stage": ticket.stage.name, "allowed": allowed_text}
        if "tag_names" in self.fields:
            names = sorted((tag.name for tag in ticket.tags.all()), key=str.casefold)
            self.fields["tag_names"].initial = ", ".join(names)
            self.fields["tag_names"].help_text = tags_help_text()
        if "assignee" in self.fields and ticket.assignee_id is not None:
            # The admin offers active agents; keep a deactivated current assignee
            # selectable, so that saving other fields doesn't silently unassign.
            assignee = cast(forms.ModelChoiceField, self.fields["assignee"])
            # A model form's choice field always has a queryset (the stubs allow None).
            current = cast("QuerySet[User]", assignee.queryset)
            assignee.queryset = current | User.objects.filter(pk=ticket.assignee_id)

    def clean_description(self) -> str:
        return _unix_newlines(self.cleaned_data["description"])


class TicketActionForm(ActionForm):
    """The list page's action bar, with the stage the "move to stage" action needs."""

    to_stage = WorkflowStageChoiceField(
        queryset=Stage.objects.select_related("workflow").order_by("workflow__name", "position"),
        required=False,
        label=_("Stage:"),
        empty_label=_("(for “Move to stage”)"),
    )
    tag_names = TagNamesField(
        label=_("Tags:"),
        widget=forms.TextInput(attrs={"placeholder": _("for “Add/Remove tags”"), "size": 18}),
    )


# --- Comments ----------------------------------------------------------------------------
class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several uploads in one input (the pattern of Django's file-upload docs)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        single_file_clean = super().clean
        if isinstance(data, list | tuple):
            return [single_file_clean(item, initial) for item in data]
        return [single_file_clean(data, initial)] if data else []


# --- Workflows ---------------------------------------------------------------------------
class StageInlineFormSet(forms.BaseInlineFormSet):
    """The workflow editor's stages: a stage that tickets are in can't be deleted."""

    def clean(self) -> None:
        # Before super().clean(): its uniqueness check validates the deleted forms too,
        # and the admin's check of those collects every ticket that protects the stage,
        # to list them all. One EXISTS per stage says enough.
        doomed = [form.instance.pk for form in self.deleted_forms if form.instance.pk]
        in_use = Stage.objects.filter(pk__in=doomed).filter(
            Exists(Ticket.objects.filter(stage=OuterRef("pk")))
        )
        errors = [
            gettext("Stage %(stage)s has tickets; move them to another stage before deleting it.")
            % {"stage": stage.name}
            for stage in in_use.order_by("position")
        ]
        if errors:
            raise ValidationError(errors)
        super().clean()


# --- The reply composer --------------------------------------------------------------------
PUBLIC, INTERNAL = "public", "internal"


class ReplyComposerForm(forms.Form):
    """The ticket page's reply composer (nixflow.admin.tickets). Which button was pressed
    (send, send and set a stage, insert a tool's draft, send anyway) comes as ``action``;
    the admin reads it. Each composer tool adds a choice list ``tool_<name>`` and the
    hidden ``composer_<name>`` that keeps the inserted choice until the reply is sent."""

    reply_body = forms.CharField(
        label=_("Reply"),
        required=False,  # "insert" posts an empty one; sending checks it (clean_for_send)
        strip=False,
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": _("Write your reply…")}),
    )
    visibility = forms.ChoiceField(
        choices=[
            (PUBLIC, _("Public reply (the requester reads it)")),
            (INTERNAL, _("Internal note")),
        ],
        initial=PUBLIC,
        widget=forms.RadioSelect,
    )
    attachments = MultipleFileField(required=False)
    seen_comment = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def __init__(
        self,
        *args: Any,
        tools: Sequence[tuple[str, str, list[tuple[str, str]]]] = (),
        **kwargs: Any,
    ) -> None:
        """``tools``: (name, label, choices) of each registered composer tool."""
        super().__init__(*args, **kwargs)
        self.tool_specs = list(tools)
        self.tool_names = [name for name, _, _ in tools]
        for name, label, choices in tools:
            self.fields[f"tool_{name}"] = forms.ChoiceField(
                label=label, required=False, choices=[("", "—"), *choices]
            )
            self.fields[f"composer_{name}"] = forms.CharField(
                required=False, max_length=200, widget=forms.HiddenInput
            )

    def clean_reply_body(self) -> str:
        return _unix_newlines(self.cleaned_data["reply_body"])

    @property
    def is_internal(self) -> bool:
        return self.cleaned_data.get("visibility") == INTERNAL

    def chosen_tools(self) -> dict[str, str]:
        """The tools whose draft was inserted: name → chosen value."""
        return {
            name: value
            for name in self.tool_names
            if (value := self.cleaned_data.get(f"composer_{name}") or "")
        }
