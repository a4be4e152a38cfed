"""factory-boy factories for every model the tests create, in one place."""

from __future__ import annotations

import importlib

import factory
from django.apps import apps as django_apps

from nixflow.models import Role, Ticket, User, Workflow


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    role = Role.REQUESTER
    password = factory.django.Password("correct horse battery staple")
    is_staff = factory.LazyAttribute(lambda u: u.role in {Role.AGENT, Role.ADMIN})


def default_workflow() -> Workflow:
    """The workflow the data migration ships (New, Open, Waiting on requester, ...).

    Recreated with the migration's own code when missing: a transactional test's flush
    empties every table, data migrations' rows included.
    """
    workflow = Workflow.objects.filter(is_default=True).first()
    if workflow is None:
        migration = importlib.import_module("nixflow.migrations.0004_default_workflow")
        migration.create_default_workflow(django_apps, None)
        workflow = Workflow.objects.get(is_default=True)
    return workflow


class TicketFactory(factory.django.DjangoModelFactory[Ticket]):
    """A ticket in the first stage of the default workflow, written directly (no history
    or events): for setting the scene. Tests of behaviour create tickets with services."""

    class Meta:
        model = Ticket

    title = factory.Sequence(lambda n: f"Ticket {n}")
    description = "Something is broken."
    requester = factory.SubFactory(UserFactory)
    workflow = factory.LazyFunction(default_workflow)
    stage = factory.LazyAttribute(lambda t: t.workflow.initial_stage)
