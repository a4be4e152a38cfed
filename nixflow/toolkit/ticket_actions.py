"""Actions that feature apps add to the admin's ticket list ("Apply macro", say).

The core imports no feature app, so the ticket admin cannot name their actions; an app
registers one in its ``AppConfig.ready()``::

    register_ticket_action(
        "apply_macro",
        "Apply a macro (choose it next to the action)",
        apply_macro_action,
        fields={"macro": forms.ModelChoiceField(Macro.objects.all(), required=False)},
    )

``run`` is called as an admin action is, ``run(model_admin, request, queryset)``, for
agents who may change tickets, and may return a response (a redirect) as one may.
``fields`` are inputs the action needs, shown in the list's action bar next to the
core's (read them from ``request.POST``, cleaned with the field); make them
``required=False``, since the bar is submitted for every action.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib.admin.helpers import ActionForm

if TYPE_CHECKING:
    # Types only: django-stubs-ext is a development dependency.
    from django.contrib import admin
    from django.db.models import QuerySet
    from django.http import HttpRequest, HttpResponse
    from django_stubs_ext import StrOrPromise

    from nixflow.models import Ticket

# An action may answer with a response (a redirect to where its work is followed), as
# Django's admin actions may; None stays on the list.
Run = Callable[["admin.ModelAdmin[Any]", "HttpRequest", "QuerySet[Ticket]"], "HttpResponse | None"]


@dataclass(frozen=True)
class TicketAction:
    name: str
    description: StrOrPromise  # gettext_lazy(...): shown in the viewer's language
    run: Run
    fields: Mapping[str, forms.Field] = field(default_factory=dict)


_actions: dict[str, TicketAction] = {}


def register_ticket_action(
    name: str,
    description: StrOrPromise,
    run: Run,
    *,
    fields: Mapping[str, forms.Field] | None = None,
) -> None:
    """Add (or replace, by name) an action of the admin's ticket list."""
    _actions[name] = TicketAction(name=name, description=description, run=run, fields=fields or {})


def unregister_ticket_action(name: str) -> None:
    _actions.pop(name, None)


def ticket_actions() -> list[TicketAction]:
    return sorted(_actions.values(), key=lambda a: a.name)


def action_form(base: type[ActionForm]) -> type[ActionForm]:
    """``base`` with the registered actions' inputs added after its own (``base`` itself
    when no action needs one)."""
    extra = {name: f for action in ticket_actions() for name, f in action.fields.items()}
    if not extra:
        return base
    return type(base.__name__, (base,), extra)
