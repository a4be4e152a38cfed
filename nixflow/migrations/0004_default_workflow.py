# Data migration (created with `makemigrations --empty`): a fresh install can take tickets
# at once, from the API, mail or forms, without an administrator designing a workflow
# first. Administrators edit or replace it in the admin; the reverse removes it only while
# no ticket uses it.

from django.db import migrations

STAGES = [
    # name, category, position
    ("New", "NEW", 1),
    ("Open", "OPEN", 2),
    ("Waiting on requester", "WAITING", 3),
    ("Resolved", "RESOLVED", 4),
    ("Closed", "CLOSED", 5),
]
TRANSITIONS = [
    # from, to, name, requester_allowed
    ("New", "Open", "Start work", False),
    ("New", "Waiting on requester", "Ask requester", False),
    ("New", "Resolved", "Resolve", False),
    ("New", "Closed", "Close", False),
    ("Open", "Waiting on requester", "Ask requester", False),
    ("Open", "Resolved", "Resolve", False),
    ("Open", "Closed", "Close", False),
    ("Waiting on requester", "Open", "Resume", False),
    ("Waiting on requester", "Resolved", "Resolve", False),
    ("Waiting on requester", "Closed", "Close", False),
    ("Resolved", "Open", "Reopen", True),
    ("Resolved", "Closed", "Confirm and close", True),
    ("Closed", "Open", "Reopen", False),
]


def create_default_workflow(apps, schema_editor):
    Workflow = apps.get_model("nixflow", "Workflow")
    Stage = apps.get_model("nixflow", "Stage")
    Transition = apps.get_model("nixflow", "Transition")
    if Workflow.objects.filter(is_default=True).exists():
        return
    workflow = Workflow.objects.create(
        name="Service desk",
        description="The default lifecycle of a support request.",
        is_default=True,
    )
    stages = {
        name: Stage.objects.create(workflow=workflow, name=name, category=category, position=pos)
        for name, category, pos in STAGES
    }
    Transition.objects.bulk_create(
        Transition(
            workflow=workflow,
            from_stage=stages[a],
            to_stage=stages[b],
            name=name,
            requester_allowed=requester,
        )
        for a, b, name, requester in TRANSITIONS
    )


def remove_default_workflow(apps, schema_editor):
    Workflow = apps.get_model("nixflow", "Workflow")
    Workflow.objects.filter(name="Service desk", tickets__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("nixflow", "0003_workflows_tickets"),
    ]

    operations = [
        migrations.RunPython(create_default_workflow, remove_default_workflow),
    ]
