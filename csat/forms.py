from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from csat.models import RatingValue
from csat.services import COMMENT_MAX_LENGTH


class RatingForm(forms.Form):
    rating = forms.ChoiceField(
        choices=RatingValue.choices,
        widget=forms.RadioSelect,
        label=_("Your rating"),
        error_messages={
            "required": _("Choose good or bad."),
            "invalid_choice": _("Choose good or bad."),
        },
    )
    comment = forms.CharField(
        required=False,
        max_length=COMMENT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 5}),
        label=_("Anything you would like to tell us? (optional)"),
    )
