"""Demo forms for ``manage.py seed_demo``: three published forms with a few submissions,
made through the services (so with history and events): signed-in ones become tickets,
anonymous ones that give a requester's address wait for that requester's confirmation.

Idempotent: a form whose slug exists is left alone, with its submissions. Deterministic
for a given ``rng``. Reached through ``FormsBuilderConfig.seed_demo`` so that the core's
command needn't import this app (feature apps build on the core, never the reverse).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from forms_builder import services
from forms_builder.models import CustomForm, FormField, FormFieldType, FormStatus
from nixflow.models import Priority, User, Workflow

# Demo forms below are data written as code: alike in shape, different questions.
T = FormFieldType

# A 1x1 PNG: a believable screenshot attachment that passes the content check.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)

FORMS: list[dict[str, Any]] = [
    {
        "form": {
            "name": "Request a laptop",
            "slug": "request-a-laptop",
            "description": "New starters and replacements. IT orders within two working days "
            "of approval; standard models are usually in stock.",
            "title_template": "Laptop for {employee_name} ({model})",
            "description_field": "justification",
            "default_priority": Priority.NORMAL,
            "login_required": True,
            "success_message": "Thanks! IT will confirm the order and the delivery date.",
        },
        "fields": [
            {
                "key": "employee_name",
                "label": "Who is the laptop for?",
                "field_type": T.TEXT,
                "required": True,
                "max_length": 120,
                "placeholder": "Full name",
            },
            {
                "key": "department",
                "label": "Department",
                "field_type": T.SELECT,
                "required": True,
                "choices": ["Engineering", "Sales", "Finance", "Customer support", "Operations"],
            },
            {
                "key": "model",
                "label": "Model",
                "field_type": T.RADIO,
                "required": True,
                "choices": ["Standard 14-inch", "Performance 16-inch", "MacBook Pro 14-inch"],
                "help_text": "Performance models need a reason.",
            },
            {
                "key": "justification",
                "label": "Why do you need the performance model?",
                "field_type": T.TEXTAREA,
                "required": True,
                "min_length": 20,
                "visible_when_field": "model",
                "visible_when_value": "Performance 16-inch",
            },
            {
                "key": "accessories",
                "label": "Accessories",
                "field_type": T.MULTISELECT,
                "choices": ["Docking station", "Second monitor", "Headset", "Keyboard and mouse"],
                "max_length": 3,
            },
            {"key": "needed_by", "label": "Needed by", "field_type": T.DATE, "required": True},
            {
                "key": "cost_centre",
                "label": "Cost centre",
                "field_type": T.TEXT,
                "required": True,
                "pattern": r"CC-\d{4}",
                "pattern_message": "Give a cost centre like CC-1234.",
                "placeholder": "CC-1234",
            },
            {
                "key": "manager_email",
                "label": "Your manager's e-mail address",
                "field_type": T.EMAIL,
                "required": True,
            },
        ],
    },
    {
        "form": {
            "name": "Report an outage",
            "slug": "report-an-outage",
            "description": "Something everyone relies on has stopped working. For a problem "
            "with your own device, open a normal ticket instead.",
            "title_template": "Outage: {service} ({impact})",
            "description_field": "what_happened",
            "priority_field": "impact",
            "priority_map": {
                "Just me": Priority.NORMAL,
                "My team": Priority.HIGH,
                "The whole office": Priority.URGENT,
                "Customers": Priority.URGENT,
            },
            "default_priority": Priority.HIGH,
            "login_required": False,
            "success_message": "Thank you. The on-call engineer has been alerted; updates "
            "go to your e-mail address.",
        },
        "fields": [
            {
                "key": "service",
                "label": "What is down?",
                "field_type": T.SELECT,
                "required": True,
                "choices": ["E-mail", "VPN", "Wi-Fi", "ERP", "Customer website", "Phones"],
            },
            {
                "key": "impact",
                "label": "Who is affected?",
                "field_type": T.RADIO,
                "required": True,
                "choices": ["Just me", "My team", "The whole office", "Customers"],
            },
            {
                "key": "affected_users",
                "label": "Roughly how many people?",
                "field_type": T.NUMBER,
                "min_value": 1,
                "max_value": 100000,
                "visible_when_field": "impact",
                "visible_when_value": "The whole office",
            },
            {"key": "started_at", "label": "When did it start?", "field_type": T.DATETIME},
            {
                "key": "what_happened",
                "label": "What happens?",
                "field_type": T.TEXTAREA,
                "required": True,
                "min_length": 10,
                "placeholder": "What you tried, what you saw, error messages",
            },
            {
                "key": "screenshot",
                "label": "Screenshot",
                "field_type": T.FILE,
                "allowed_file_types": "png, jpg, jpeg, pdf",
                "max_file_size": 5 * 1024 * 1024,
            },
            {
                "key": "status_page",
                "label": "Link to the status page or alert",
                "field_type": T.URL,
            },
            {"key": "workaround", "label": "There is a workaround", "field_type": T.CHECKBOX},
            {
                "key": "phone",
                "label": "Phone number for the on-call engineer",
                "field_type": T.PHONE,
            },
        ],
    },
    {
        "form": {
            "name": "Request access to a system",
            "slug": "request-access",
            "description": "Access is granted once your manager approves.",
            "title_template": "Access to {system}: {access_level}",
            "description_field": "reason",
            "default_priority": Priority.NORMAL,
            "login_required": True,
            "success_message": "Thanks. We have asked your manager to approve the request.",
        },
        "fields": [
            {
                "key": "system",
                "label": "System",
                "field_type": T.SELECT,
                "required": True,
                "choices": ["ERP", "CRM", "Payroll", "Shared drive", "Source code"],
            },
            {
                "key": "access_level",
                "label": "Access",
                "field_type": T.RADIO,
                "required": True,
                "choices": ["Read only", "Editor", "Administrator"],
            },
            {
                "key": "reason",
                "label": "What do you need it for?",
                "field_type": T.TEXTAREA,
                "required": True,
                "min_length": 10,
            },
            {"key": "start_date", "label": "From", "field_type": T.DATE},
            {
                "key": "manager_email",
                "label": "Your manager's e-mail address",
                "field_type": T.EMAIL,
                "required": True,
            },
        ],
    },
]

SERVICES_PROBLEMS = [
    "Outlook keeps asking for my password and no new mail arrives since this morning.",
    "The VPN client says 'authentication server not responding' for everyone here.",
    "Wi-Fi on the second floor drops every few minutes; calls keep cutting out.",
    "Posting invoices in the ERP times out after two minutes with error 504.",
]
REASONS = [
    "I run the monthly close and need to post journals in the new entity.",
    "I joined the sales team and need to see customer contracts.",
    "I'm covering payroll questions while Sam is on leave in March.",
]


def _answers_laptop(rng: random.Random, requester: User) -> dict[str, Any]:
    model = rng.choice(["Standard 14-inch", "Performance 16-inch", "MacBook Pro 14-inch"])
    answers: dict[str, Any] = {
        "employee_name": requester.get_full_name() or requester.username,
        "department": rng.choice(["Engineering", "Sales", "Finance", "Customer support"]),
        "model": model,
        "accessories": rng.sample(["Docking station", "Second monitor", "Headset"], k=2),
        "needed_by": (timezone.localdate() + timedelta(days=rng.randint(5, 30))).isoformat(),
        "cost_centre": f"CC-{rng.randint(1000, 9999)}",
        "manager_email": "manager@example.com",
    }
    if model == "Performance 16-inch":
        answers["justification"] = "I build and run the data pipelines locally; 32 GB of RAM."
    return answers


def _answers_outage(rng: random.Random, requester: User) -> dict[str, Any]:
    impact = rng.choice(["Just me", "My team", "The whole office", "Customers"])
    answers: dict[str, Any] = {
        "service": rng.choice(["E-mail", "VPN", "Wi-Fi", "ERP"]),
        "impact": impact,
        "started_at": (timezone.now() - timedelta(minutes=rng.randint(5, 180))).isoformat(),
        "what_happened": rng.choice(SERVICES_PROBLEMS),
        "workaround": rng.random() < 0.3,
    }
    if impact == "The whole office":
        answers["affected_users"] = rng.randint(20, 200)
    return answers


def _answers_access(rng: random.Random, requester: User) -> dict[str, Any]:
    return {
        "system": rng.choice(["ERP", "CRM", "Payroll", "Shared drive"]),
        "access_level": rng.choice(["Read only", "Editor"]),
        "reason": rng.choice(REASONS),
        "manager_email": "manager@example.com",
    }


ANSWERS: dict[str, Callable[[random.Random, User], dict[str, Any]]] = {
    "request-a-laptop": _answers_laptop,
    "report-an-outage": _answers_outage,
    "request-access": _answers_access,
}


def _create_form(spec: dict[str, Any]) -> CustomForm:
    values = dict(spec["form"])
    if values["slug"] == "request-access":
        # The core's demo ships an "Access requests" workflow; use it when it is there.
        values["workflow"] = Workflow.objects.filter(name="Access requests", is_active=True).first()
    form = CustomForm(**values)
    fields = [FormField(order=(n + 1) * 10, **field) for n, field in enumerate(spec["fields"])]
    services.form_create(form=form, fields=fields, actor=None)
    return services.form_set_status(form=form, status=FormStatus.PUBLISHED, actor=None)


def seed_forms(*, rng: random.Random, requesters: Sequence[User]) -> dict[str, int]:
    """Create the demo forms that don't exist yet, each with three to five submissions from
    ``requesters`` converted to tickets; returns submissions created per form name."""
    created: dict[str, int] = {}
    if not requesters:
        return created
    existing = set(CustomForm.objects.values_list("slug", flat=True))
    for spec in FORMS:
        slug = spec["form"]["slug"]
        if slug in existing:
            continue
        with transaction.atomic():
            form = _create_form(spec)
        count = 0
        for _ in range(rng.randint(3, 5)):
            requester = rng.choice(list(requesters))
            answers = ANSWERS[slug](rng, requester)
            files = {}
            anonymous = not form.login_required and rng.random() < 0.5
            if slug == "report-an-outage" and rng.random() < 0.5:
                files["screenshot"] = [
                    SimpleUploadedFile("screenshot.png", PNG, content_type="image/png")
                ]
            services.submission_create(
                form=form,
                data=answers,
                files=files,
                # Public forms are often filled in without signing in: the address is
                # then an existing requester's, and the submission awaits their
                # confirmation (an unverified submission, as staff will meet them).
                submitter=None if anonymous else requester,
                submitter_email=requester.email if anonymous else "",
            )
            count += 1
        created[form.name] = count
    return created
