"""Writes of the form builder. The admin, the API, the HTML pages and the demo data all
call these, so every change is validated the same way and recorded in the event log.

- ``forms``: designing forms (``form_create``, ``form_update``, ``form_set_status``,
  ``form_delete``);
- ``submissions``: answers that become tickets (``submission_create``,
  ``submission_convert``, ``submission_reject``);
- ``confirmation``: an anonymous submission made with an existing account's address,
  confirmed by that account's owner (``submission_confirm``), and its mail given up or
  sent again (``confirmation_mail_failed``, ``confirmation_mail_resend``);
- ``files``: a submission's uploads in storage.
"""

from forms_builder.services.confirmation import (
    Confirmation,
    ConfirmationState,
    confirmation_check,
    confirmation_mail_failed,
    confirmation_mail_resend,
    confirmation_token,
    submission_confirm,
)
from forms_builder.services.files import StoredFile
from forms_builder.services.forms import (
    form_create,
    form_delete,
    form_fields_from_data,
    form_save,
    form_set_status,
    form_update,
)
from forms_builder.services.submissions import (
    OPEN_STATUSES,
    ConversionFailed,
    convert_open_submission,
    submission_convert,
    submission_create,
    submission_reject,
)

__all__ = [
    "OPEN_STATUSES",
    "Confirmation",
    "ConfirmationState",
    "ConversionFailed",
    "StoredFile",
    "confirmation_check",
    "confirmation_mail_failed",
    "confirmation_mail_resend",
    "confirmation_token",
    "convert_open_submission",
    "form_create",
    "form_delete",
    "form_fields_from_data",
    "form_save",
    "form_set_status",
    "form_update",
    "submission_confirm",
    "submission_convert",
    "submission_create",
    "submission_reject",
]
