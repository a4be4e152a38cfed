"""Custom ticket fields in the admin: their definitions, their values on the ticket page,
and the ticket list's filters and sort by value.

- ``TicketFieldAdmin``: admins define fields through the services
  (``nixflow.services.fields``; one ``ticket_field.*`` event per save); agents read them.
- ``with_custom_fields``: the ticket page's form with one input per field of the
  ticket's workflow, saved by ``TicketAdmin.save_model`` through ``ticket_update`` (one
  ``ticket.updated`` with everything the save changed).
- ``with_new_ticket_fields``: the add page's form with the same inputs for the fields of
  every active workflow, checked against the workflow chosen and saved by
  ``ticket_create`` (recorded with the ``ticket.created`` that opens the ticket). A
  script shows only the chosen workflow's inputs (``new_ticket_fields.js``); without it
  the page offers them all.
- ``custom_field_filters``: one sidebar filter per active field, ``?field.<name>=<value>``
  as the API reads it (a choice list for choice, checkbox and user fields; the value in
  use for the others, typed into the address), each a containment test served by the
  ``nf_ticket_custom_fields`` GIN index; and "Sort by field", ``?field_order=<name>``
  (``-<name>`` descending), tickets without a value last.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.contrib import admin
from django.contrib.admin import widgets
from django.db.models import (
    BigIntegerField,
    BooleanField,
    DateField,
    DecimalField,
    Expression,
    Field,
    Func,
    Model,
    OrderBy,
    Q,
    QuerySet,
    TextField,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils.translation import gettext, gettext_lazy

from nixflow import services
from nixflow.fields import fields_for_workflow, value_parse
from nixflow.models import FieldType, Role, Ticket, TicketField, User, Workflow
from nixflow.toolkit.admin import READ_ONLY
from nixflow.toolkit.config_admin import ConfigurationAdmin

FORM_PREFIX = "cf_"
FILTER_PREFIX = "field."
ORDER_PARAMETER = "field_order"


# --- Definitions -------------------------------------------------------------------------
class LinesField(forms.CharField):
    """A list of texts, one per line (a choice field's choices); blank lines dropped."""

    widget = forms.Textarea(attrs={"rows": 5, "cols": 40})

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list | tuple) else value

    def clean(self, value: Any) -> list[str]:
        text = super().clean(value) or ""
        return [line.strip() for line in text.splitlines() if line.strip()]


@admin.register(TicketField)
class TicketFieldAdmin(ConfigurationAdmin):
    """What the desk records about tickets beyond the built-in fields; admins only
    change it. A field tickets hold values for keeps its name and type; deactivate it
    rather than delete it."""

    agent_actions = READ_ONLY
    list_display = ("label", "name", "type", "is_active", "position")
    list_filter = ("type", "is_active")
    search_fields = ("name", "label")
    ordering = ("position", "name")
    fields = (
        "label",
        "name",
        "type",
        "help_text",
        "choices",
        "workflows",
        "required_for_stages",
        "position",
        "is_active",
    )
    filter_horizontal = ("workflows", "required_for_stages")
    service_fields = tuple(sorted(services.TICKET_FIELD_FIELDS))
    row_arguments: ClassVar[dict[type[Model], str]] = {}

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "choices":
            return LinesField(
                required=False,
                label=gettext_lazy("Choices"),
                help_text=gettext_lazy("One per line, in the order they are offered."),
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def create_with(
        self, obj: Any, actor: User, data: dict[str, Any], rows: dict[str, Any]
    ) -> Model:
        return services.ticket_field_create(actor=actor, data=data)

    def update_with(
        self, obj: Any, actor: User, data: dict[str, Any], rows: dict[str, Any]
    ) -> Model:
        return services.ticket_field_update(field=obj, actor=actor, data=data)

    def delete_with(self, obj: Any, actor: User) -> None:
        services.ticket_field_delete(field=obj, actor=actor)


# --- The ticket page ---------------------------------------------------------------------
def _agents() -> QuerySet[User]:
    return User.objects.filter(is_active=True, role__in=[Role.AGENT, Role.ADMIN]).order_by(
        "username"
    )


def _text_input(field: TicketField) -> forms.Field:
    widget = forms.TextInput(attrs={"class": "vTextField"})
    return forms.CharField(max_length=1000, widget=widget)


_INPUTS: dict[str, Any] = {
    FieldType.TEXT: _text_input,
    FieldType.LONG_TEXT: lambda f: forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), strip=False
    ),
    FieldType.NUMBER: lambda f: forms.IntegerField(),
    FieldType.DECIMAL: lambda f: forms.DecimalField(max_digits=30),
    FieldType.DATE: lambda f: forms.DateField(widget=widgets.AdminDateWidget),
    FieldType.CHOICE: lambda f: forms.ChoiceField(
        choices=[("", "---------"), *((c, c) for c in f.choices)]
    ),
    FieldType.MULTIPLE_CHOICE: lambda f: forms.MultipleChoiceField(
        choices=[(c, c) for c in f.choices], widget=forms.CheckboxSelectMultiple
    ),
    FieldType.CHECKBOX: lambda f: forms.BooleanField(),
    FieldType.USER: lambda f: forms.ModelChoiceField(queryset=_agents()),
    FieldType.URL: lambda f: forms.CharField(
        max_length=2000, widget=forms.URLInput(attrs={"class": "vURLField"})
    ),
}


def form_field(field: TicketField) -> forms.Field:
    """The input of one custom field; the services check the value again when saving."""
    made: forms.Field = _INPUTS.get(field.type, _text_input)(field)
    made.required = False
    made.label = field.label
    made.help_text = field.help_text
    return made


def ticket_form_fields(ticket: Ticket) -> dict[str, TicketField]:
    """The form's custom field inputs by input name (``cf_<name>``)."""
    return {f"{FORM_PREFIX}{f.name}": f for f in fields_for_workflow(ticket.workflow_id).values()}


def with_custom_fields(form: type[ModelForm], ticket: Ticket) -> type[ModelForm]:
    """``form`` with an input for each custom field of the ticket's workflow, set to the
    ticket's values."""
    fields = ticket_form_fields(ticket)
    if not fields:
        return form
    declared: dict[str, Any] = {}
    for input_name, field in fields.items():
        declared[input_name] = form_field(field)
        value = ticket.custom_fields.get(field.name)
        if (field.type == FieldType.USER and isinstance(value, int)) or value is not None:
            declared[input_name].initial = value
    return type(form.__name__, (form,), declared)


def changed_values(form: ModelForm, ticket: Ticket) -> dict[str, Any]:
    """The custom field values the form changed, by field name, for ``ticket_update``."""
    fields = ticket_form_fields(ticket)
    return {
        fields[name].name: form.cleaned_data[name] for name in form.changed_data if name in fields
    }


# --- The add page -----------------------------------------------------------------------
def new_ticket_fields() -> dict[str, TicketField]:
    """The add page's custom field inputs by input name: the active fields of every
    active workflow (the page offers the workflow to choose), in page order."""
    fields = TicketField.objects.filter(is_active=True).filter(
        Q(workflows=None) | Q(workflows__is_active=True)
    )
    ordered = fields.distinct().order_by("position", "name").prefetch_related("workflows")
    return {f"{FORM_PREFIX}{f.name}": f for f in ordered}


class NewTicketFieldsMixin(forms.BaseForm):
    """The add form's custom fields: a value filled for a field that the chosen workflow
    does not have is an error on that input (the page offers every workflow's fields).

    The script shows the inputs of the chosen workflow's fields only and disables the
    others, so that their values are not sent. It reads the workflows of a field of some
    workflows from its input's ``data-workflows`` (``with_new_ticket_fields``) and what
    "Default workflow" stands for from the workflow list's ``data-default-workflow``."""

    custom_field_inputs: ClassVar[dict[str, TicketField]] = {}

    class Media:
        js = ("nixflow/admin/new_ticket_fields.js",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        chooser = self.fields.get("workflow")
        if chooser is None:
            return
        default = default_workflow()
        if default is not None:
            chooser.widget.attrs["data-default-workflow"] = str(default.pk)

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or self.cleaned_data
        workflow = cleaned.get("workflow") or default_workflow()
        if workflow is None:
            return cleaned  # the service says that a workflow must be chosen
        for name in self.custom_field_values():
            field = self.custom_field_inputs[f"{FORM_PREFIX}{name}"]
            allowed = {w.pk for w in field.workflows.all()}
            if allowed and workflow.pk not in allowed:
                message = gettext("%(field)s is not a field of the workflow %(workflow)s.")
                self.add_error(
                    f"{FORM_PREFIX}{name}",
                    message % {"field": field.label, "workflow": workflow.name},
                )
        return cleaned

    def custom_field_values(self) -> dict[str, Any]:
        """The values filled in, by field name, for ``ticket_create``."""
        return {
            field.name: self.cleaned_data[input_name]
            for input_name, field in self.custom_field_inputs.items()
            if input_name in self.changed_data and input_name in self.cleaned_data
        }


def default_workflow() -> Workflow | None:
    return Workflow.objects.filter(is_default=True, is_active=True).first()


def with_new_ticket_fields(form: type[ModelForm]) -> type[ModelForm]:
    """``form`` (the add page's) with the inputs of the ticket page for each custom field
    a new ticket may have (``new_ticket_fields``); a field of some workflows says which in
    its help text, and to the script in its input's ``data-workflows`` (their ids, space
    separated; a field of every workflow has none)."""
    fields = new_ticket_fields()
    declared: dict[str, Any] = {"custom_field_inputs": fields}
    for input_name, field in fields.items():
        declared[input_name] = made = form_field(field)
        applies_to = field.workflows.all()
        workflows = sorted(w.name for w in applies_to)
        if workflows:
            made.widget.attrs["data-workflows"] = " ".join(
                str(pk) for pk in sorted(w.pk for w in applies_to)
            )
            only = gettext("Only for the workflows: %(workflows)s.") % {
                "workflows": ", ".join(workflows)
            }
            made.help_text = f"{field.help_text} {only}".strip()
    return type(form.__name__, (NewTicketFieldsMixin, form), declared)


# --- The ticket list: filter and sort by value ---------------------------------------------
class CustomFieldFilter(admin.SimpleListFilter):
    """``?field.<name>=<value>``; subclasses are made per field (``custom_field_filters``)."""

    field: TicketField

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
        field = self.field
        if field.type in {FieldType.CHOICE, FieldType.MULTIPLE_CHOICE}:
            return [(c, c) for c in field.choices]
        if field.type == FieldType.CHECKBOX:
            return [("true", gettext("Yes")), ("false", gettext("No"))]
        if field.type == FieldType.USER:
            return [(str(u.pk), u.get_full_name() or u.username) for u in _agents()]
        # Free values: the one in use (typed into the address, or a saved view's).
        value = self.value()
        return [(value, value)] if value else []

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        # A refused value is the changelist's "invalid lookup" (?e=1), as for any filter.
        parsed = value_parse(self.field, value)
        return queryset.filter(custom_fields__contains={self.field.name: parsed})


class CustomFieldOrder(admin.SimpleListFilter):
    """ "Sort by field": chosen here, applied by ``TicketListMixin.get_ordering``."""

    title = gettext_lazy("custom field, sorted")  # "By custom field, sorted"
    parameter_name = ORDER_PARAMETER
    fields: ClassVar[list[TicketField]] = []

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        choices = []
        for field in self.fields:
            choices.append((field.name, f"{field.label} ↑"))
            choices.append((f"-{field.name}", f"{field.label} ↓"))
        return choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset


def uses_custom_fields(params: Any) -> bool:
    """Whether a ticket list query filters or sorts by a custom field."""
    return any(key.startswith(FILTER_PREFIX) or key == ORDER_PARAMETER for key in params)


def custom_field_filters() -> list[type[admin.SimpleListFilter]]:
    """A filter per active custom field, and the sort, for the ticket list's sidebar."""
    fields = list(TicketField.objects.filter(is_active=True).order_by("position", "name"))
    if not fields:
        return []
    filters: list[type[admin.SimpleListFilter]] = [
        type(
            f"CustomFieldFilter_{field.name}",
            (CustomFieldFilter,),
            {
                "field": field,
                "title": field.label,
                "parameter_name": f"{FILTER_PREFIX}{field.name}",
            },
        )
        for field in fields
    ]
    filters.append(type("CustomFieldOrder_", (CustomFieldOrder,), {"fields": fields}))
    return filters


class _Numeric(Func):
    """Text as ``numeric`` of any precision (Cast names a precision and scale)."""

    template = "(%(expressions)s)::numeric"
    output_field = DecimalField()


# The SQL type a field's stored value sorts as; the others sort as their text (a multiple
# choice field by the text of its list, which starts with its first choice).
_SORT_TYPES: dict[str, type[Field[Any, Any]]] = {
    FieldType.NUMBER: BigIntegerField,
    FieldType.USER: BigIntegerField,
    FieldType.DATE: DateField,
    FieldType.CHECKBOX: BooleanField,
}


def field_sort_value(field: TicketField) -> Expression:
    """A ticket's value of ``field`` as the SQL value it sorts by, NULL when it has none:
    numbers and decimals as numbers (a decimal is stored as text, ``"12.5"``), dates as
    dates, a checkbox false before true, the rest as text. The ticket list's "sort by
    field" (``field_ordering``) and the API's ``?ordering=field.<name>`` both sort by it."""
    text = KeyTextTransform(field.name, "custom_fields")
    if field.type == FieldType.DECIMAL:
        return _Numeric(text)
    sort_type = _SORT_TYPES.get(field.type)
    return Cast(text, sort_type() if sort_type else TextField())


def field_ordering(params: Any) -> OrderBy | None:
    """The sort ``?field_order=`` asks for: by the value (``field_sort_value``), tickets
    without one last whichever the direction."""
    chosen = params.get(ORDER_PARAMETER, "")
    name = chosen.removeprefix("-")
    field = TicketField.objects.filter(name=name).first() if name else None
    if field is None:
        return None
    return OrderBy(field_sort_value(field), descending=chosen.startswith("-"), nulls_last=True)
