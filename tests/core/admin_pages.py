"""Driving admin pages as a browser does: read a page's forms, change some values, and
post everything back with the inline formsets' management data."""

from __future__ import annotations

from typing import Any

from django.forms import BooleanField
from django.http import HttpResponse
from django.urls import reverse


def url(name: str, *args: Any) -> str:
    return reverse(f"admin:nixflow_{name}", args=args)


def form_data(response: HttpResponse) -> dict[str, Any]:
    """What a browser posts back for the admin page in ``response`` when nothing is
    touched: the main form's and every inline's values, with management forms."""
    assert response.status_code == 200
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms.append(inline.formset.management_form)
        forms.extend(inline.formset.forms)
    data: dict[str, Any] = {}
    for form in forms:
        for name, field in form.fields.items():
            value = form[name].value()
            if isinstance(field, BooleanField):
                if value:
                    data[form.add_prefix(name)] = "on"
            elif value is not None:
                data[form.add_prefix(name)] = value
    return data


def prefix(response: HttpResponse, inline: type[Any]) -> str:
    """The form prefix of ``inline``'s formset on the page (two inlines of one model get
    numbered prefixes)."""
    for inline_formset in response.context["inline_admin_formsets"]:
        if type(inline_formset.opts) is inline:
            return inline_formset.formset.prefix
    raise AssertionError(f"{inline.__name__} is not on the page")


def fill_new_row(data: dict[str, Any], formset_prefix: str, **values: Any) -> None:
    """Fill the formset's first row after the existing ones, adding that row when the
    page had no empty one (as the admin's "Add another" link does)."""
    index = int(data[f"{formset_prefix}-INITIAL_FORMS"])
    total = int(data[f"{formset_prefix}-TOTAL_FORMS"])
    data[f"{formset_prefix}-TOTAL_FORMS"] = max(total, index + 1)
    for name, value in values.items():
        data[f"{formset_prefix}-{index}-{name}"] = value


def errors(response: HttpResponse) -> str:
    """Every error of the page's form and inlines, as text."""
    found = [str(response.context["adminform"].form.errors)]
    for inline in response.context["inline_admin_formsets"]:
        found.append(str(inline.formset.errors))
        found.append(str(inline.formset.non_form_errors()))
    return " ".join(found)
