"""The admin's forms for data-subject requests."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from privacy.person import normalize_address


class PersonForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address"))


class EraseForm(forms.Form):
    email = forms.EmailField(widget=forms.HiddenInput)
    confirm = forms.CharField(
        label=_("Type the address again to confirm"),
        help_text=_("Erasure cannot be undone."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    include_staff = forms.BooleanField(
        required=False,
        label=_("This is a staff account; erase it anyway"),
        help_text=_("Their work records (replies, notes, history) stay, without their name."),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        email, confirm = cleaned.get("email"), cleaned.get("confirm")
        if email and confirm is not None and normalize_address(confirm) != normalize_address(email):
            self.add_error("confirm", _("This is not the address being erased."))
        return cleaned
