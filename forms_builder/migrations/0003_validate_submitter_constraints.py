# Written by hand: validates the check constraints 0002 added NOT VALID. VALIDATE
# CONSTRAINT scans the existing rows under a lock that lets reads and writes go on
# (docs/deploy.md, "Expand and contract"); makemigrations cannot say that.

from django.contrib.postgres.operations import ValidateConstraint
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("forms_builder", "0002_submitter_identity"),
    ]

    operations = [
        ValidateConstraint(model_name="customform", name="forms_form_slug_not_reserved"),
        ValidateConstraint(model_name="formsubmission", name="forms_submission_status_valid"),
        ValidateConstraint(model_name="formsubmission", name="forms_submission_identity_valid"),
        ValidateConstraint(
            model_name="formsubmission", name="forms_submission_unverified_unlinked"
        ),
        ValidateConstraint(
            model_name="formsubmission", name="forms_submission_awaiting_is_unverified"
        ),
    ]
