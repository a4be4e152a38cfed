"""Form submissions: the answers, the submitter's address and network address, the
uploaded files."""

from __future__ import annotations

from django.db.models import Q

from forms_builder.models import FormSubmission, FormSubmissionAttachment
from privacy import registry
from privacy.person import ERASED, Erasure, Person
from privacy.registry import Export, ExportFile
from privacy.sources.common import iso


def _theirs(person: Person) -> Q:
    condition = Q(submitter_email__iexact=person.email)
    if person.user is not None:
        condition |= Q(submitter=person.user)
    return condition


def export(person: Person) -> Export:
    submissions = (
        FormSubmission.objects.filter(_theirs(person))
        .select_related("form")
        .prefetch_related("attachments")
        .order_by("created", "pk")
    )
    documents, files = [], []
    for submission in submissions:
        uploads = []
        for attachment in submission.attachments.all():
            path = f"files/forms/{submission.pk}/{attachment.pk}-{attachment.original_name}"
            uploads.append(
                {
                    "field": attachment.field_key,
                    "filename": attachment.original_name,
                    "content_type": attachment.content_type,
                    "size": attachment.size,
                    "archive_path": path,
                }
            )
            files.append(
                ExportFile(
                    archive_name=path, storage=attachment.file.storage, name=attachment.file.name
                )
            )
        documents.append(
            {
                "id": submission.pk,
                "form": submission.form.name,
                "submitter_email": submission.submitter_email,
                "answers": submission.data,
                "status": submission.status,
                "ip_address": submission.ip_address,
                "created": iso(submission.created),
                "ticket": submission.ticket.key
                if submission.ticket_id and submission.ticket
                else None,
                "files": uploads,
            }
        )
    return Export(data={"submissions": documents}, files=files)


def erase(person: Person, erasure: Erasure) -> int:
    changed = 0
    submissions = list(FormSubmission.objects.filter(_theirs(person)))
    for attachment in FormSubmissionAttachment.objects.filter(submission__in=submissions):
        erasure.delete_file(attachment.file)
    changed += FormSubmissionAttachment.objects.filter(submission__in=submissions).delete()[0]
    for submission in submissions:
        submission.data = dict.fromkeys(submission.data, ERASED)
        # A submission needs a user or an address (a check constraint); an anonymous
        # one keeps an address that names no one.
        if submission.submitter_email:
            submission.submitter_email = (
                "" if submission.submitter_id else f"erased-{submission.pk}@erased.invalid"
            )
        submission.ip_address = None
        submission.status_reason = person.scrub(submission.status_reason, local=True)
        submission.save(update_fields=["data", "submitter_email", "ip_address", "status_reason"])
        changed += 1
    return changed


registry.register(
    "forms",
    models=[FormSubmission, FormSubmissionAttachment],
    exporter=export,
    eraser=erase,
    order=20,
    description="Form submissions: answers, address, network address, uploaded files.",
)
