"""Where macros plug into the core's ticket pages: the reply composer's macro picker and
the ticket list's "Apply a macro" bulk action (registered in ``MacrosConfig.ready``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy, ngettext

from macros import sandbox, selectors, services
from macros.models import Assignment, Macro
from nixflow.models import Priority, Ticket
from nixflow.toolkit.admin import report_failures
from nixflow.toolkit.auth import signed_in_user
from nixflow.toolkit.composer import ComposerTool, Draft, register_composer_tool
from nixflow.toolkit.errors import error_text
from nixflow.toolkit.ticket_actions import register_ticket_action


def describe(macro: Macro) -> list[str]:
    """What applying the macro changes, in words ("Stage → Resolved")."""
    said = []
    if macro.set_stage is not None:
        said.append(gettext("Stage → %(stage)s") % {"stage": macro.set_stage.name})
    if macro.set_priority:
        priority = Priority(macro.set_priority).label
        said.append(gettext("Priority → %(priority)s") % {"priority": priority})
    if macro.set_team is not None:
        said.append(gettext("Team → %(team)s") % {"team": macro.set_team})
    assignment = Assignment(macro.assignment)
    if assignment == Assignment.USER:
        said.append(gettext("Assignee → %(agent)s") % {"agent": macro.assignee})
    elif assignment == Assignment.APPLIER:
        said.append(gettext("Assignee → you"))
    elif assignment == Assignment.UNASSIGN:
        said.append(gettext("Assignee → nobody"))
    if macro.add_tags:
        said.append(gettext("Tags + %(tags)s") % {"tags": ", ".join(macro.add_tags)})
    if macro.remove_tags:
        said.append(gettext("Tags - %(tags)s") % {"tags": ", ".join(macro.remove_tags)})
    return said


def _usable(request: HttpRequest, ticket: Ticket, value: str) -> Macro:
    """The macro ``value`` names, if the signed-in agent may use it on this ticket."""
    macro = (
        selectors.macros_for(user=signed_in_user(request), ticket=ticket)
        .filter(pk=int(value) if value.isdigit() else 0)
        .first()
    )
    if macro is None:
        raise ValidationError(gettext("No such macro that you may use on this ticket."))
    return macro


# --- The reply composer -------------------------------------------------------------------
def composer_choices(request: HttpRequest, ticket: Ticket) -> list[tuple[str, str]]:
    macros = selectors.macros_for(user=signed_in_user(request), ticket=ticket)
    return [(str(macro.pk), macro.name) for macro in macros]


def composer_draft(request: HttpRequest, ticket: Ticket, value: str) -> Draft:
    macro = _usable(request, ticket, value)
    body = sandbox.render_body(macro.body, ticket=ticket, agent=signed_in_user(request))
    return Draft(body=body, is_internal=macro.is_internal, changes=describe(macro))


def composer_on_send(request: HttpRequest, ticket: Ticket, value: str) -> list[str]:
    macro = _usable(request, ticket, value)
    return services.macro_apply_changes(macro=macro, ticket=ticket, actor=signed_in_user(request))


COMPOSER_TOOL = ComposerTool(
    name="macro",
    label=gettext_lazy("Macro"),
    choices=composer_choices,
    draft=composer_draft,
    on_send=composer_on_send,
    order=10,
)


# --- The ticket list's bulk action -------------------------------------------------------
class MacroChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} — {obj.scope_label}"


def macro_field() -> MacroChoiceField:
    # The bar is one form for every agent; who may use the macro chosen is checked when
    # the action runs.
    return MacroChoiceField(
        Macro.objects.filter(is_active=True).select_related("owner", "owner_team"),
        required=False,
        label=gettext_lazy("Macro"),
        empty_label=gettext_lazy("Macro…"),
    )


def _chosen_macro(request: HttpRequest) -> Macro | None:
    try:
        return macro_field().clean(request.POST.get("macro") or None)
    except ValidationError:
        return None


def _apply_now(
    model_admin: admin.ModelAdmin[Any], request: HttpRequest, macro: Macro, ids: list[int]
) -> None:
    outcomes = services.macro_apply_bulk(macro=macro, tickets=ids, actor=signed_in_user(request))
    done = sum(outcome.ok for outcome in outcomes)
    if done:
        model_admin.message_user(
            request,
            ngettext(
                "Applied the macro %(macro)r to %(count)s ticket.",
                "Applied the macro %(macro)r to %(count)s tickets.",
                done,
            )
            % {"macro": macro.name, "count": done},
        )
    failures = [f"{o.ticket_key}: {o.message}" for o in outcomes if not o.ok]
    report_failures(model_admin, request, f"Could not apply {macro.name!r} to", failures)


def _queue(
    model_admin: admin.ModelAdmin[Any], request: HttpRequest, macro: Macro, ids: list[int]
) -> HttpResponse:
    job = services.macro_bulk_enqueue(macro=macro, tickets=ids, actor=signed_in_user(request))
    model_admin.message_user(
        request,
        ngettext(
            "Applying the macro %(macro)r to %(count)s ticket in the background. This page "
            "follows it and says when it is done.",
            "Applying the macro %(macro)r to %(count)s tickets in the background. This page "
            "follows it and says when it is done.",
            len(ids),
        )
        % {"macro": macro.name, "count": len(ids)},
    )
    return HttpResponseRedirect(reverse("admin:macros_bulkapply_change", args=[job.pk]))


@admin.action(
    permissions=["change"], description=gettext_lazy("Apply a macro (choose it next to the action)")
)
def apply_macro_action(
    model_admin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Ticket]
) -> HttpResponse | None:
    """Apply the macro chosen in the action bar to each selected ticket; each succeeds or
    fails on its own. A few tickets (``services.BULK_SYNC_LIMIT``) in the request, with
    one message listing the refusals; more on the Celery workers, the agent sent to the
    job's page, which says when they are done (a thousand tickets take seconds)."""
    macro = _chosen_macro(request)
    if macro is None:
        model_admin.message_user(
            request, gettext("Choose a macro next to the action."), messages.ERROR
        )
        return None
    ids = list(queryset.order_by("pk").values_list("pk", flat=True))
    try:
        if len(ids) > services.BULK_SYNC_LIMIT:
            return _queue(model_admin, request, macro, ids)
        _apply_now(model_admin, request, macro, ids)
    except (ValidationError, PermissionDenied) as error:
        model_admin.message_user(request, error_text(error), messages.ERROR)
    return None


def register() -> None:
    register_composer_tool(COMPOSER_TOOL)
    register_ticket_action(
        "apply_macro",
        gettext_lazy("Apply a macro (choose it next to the action)"),
        apply_macro_action,  # a queued job answers with the redirect to its page
        fields={"macro": macro_field()},
    )
