"""factory-boy factories of the core app's models (feature apps keep theirs in
``tests/<app>/factories.py``).

Factories write rows directly, without services, history or events: they set the scene.
A test of behaviour makes its change through the services (or the API, admin, mail...).
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Sequence
from typing import Any

import factory
from django.apps import apps as django_apps
from django.core.files.base import ContentFile

from nixflow.models import (
    Attachment,
    Comment,
    HistoryLog,
    Role,
    RoutingRule,
    Stage,
    StageCategory,
    Team,
    TeamMembership,
    Ticket,
    TicketWatcher,
    Transition,
    User,
    Workflow,
)


# --- People --------------------------------------------------------------------------------
class UserFactory(factory.django.DjangoModelFactory[User]):
    """A requester unless ``role`` says otherwise; staff follows the role, as
    ``services.user_create`` sets it. Found again by username."""

    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    role = Role.REQUESTER
    password = factory.django.Password("correct horse battery staple")
    is_staff = factory.LazyAttribute(lambda u: u.role in {Role.AGENT, Role.ADMIN})


class RequesterFactory(UserFactory):
    username = factory.Sequence(lambda n: f"requester{n}")
    role = Role.REQUESTER


class AgentFactory(UserFactory):
    username = factory.Sequence(lambda n: f"agent{n}")
    role = Role.AGENT


class AdminFactory(UserFactory):
    """An admin by role (staff, not a superuser): the desk's configurator."""

    username = factory.Sequence(lambda n: f"admin{n}")
    role = Role.ADMIN


# --- Workflows -------------------------------------------------------------------------
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


class WorkflowFactory(factory.django.DjangoModelFactory[Workflow]):
    """A workflow (not the default). ``stages=["A", "B", "C"]`` gives it those stages in
    order, the first NEW, the last RESOLVED, the rest OPEN, with a transition from each
    to the next; without ``stages`` it has none."""

    class Meta:
        model = Workflow
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Workflow {n}")

    @factory.post_generation
    def stages(self, create: bool, names: Sequence[str] | None, **kwargs: Any) -> None:
        if not create or not names:
            return
        rows = []
        for position, name in enumerate(names, start=1):
            category = (
                StageCategory.NEW
                if position == 1
                else StageCategory.RESOLVED
                if position == len(names)
                else StageCategory.OPEN
            )
            rows.append(
                StageFactory(workflow=self, name=name, category=category, position=position)
            )
        for source, target in itertools.pairwise(rows):
            TransitionFactory(workflow=self, from_stage=source, to_stage=target, name="Next")


class StageFactory(factory.django.DjangoModelFactory[Stage]):
    workflow = factory.SubFactory(WorkflowFactory)
    name = factory.Sequence(lambda n: f"Stage {n}")
    category = StageCategory.OPEN
    position = factory.Sequence(lambda n: n + 1)

    class Meta:
        model = Stage


class TransitionFactory(factory.django.DjangoModelFactory[Transition]):
    """A transition between two stages of one workflow (both made when not given)."""

    workflow = factory.SubFactory(WorkflowFactory)
    from_stage = factory.SubFactory(StageFactory, workflow=factory.SelfAttribute("..workflow"))
    to_stage = factory.SubFactory(StageFactory, workflow=factory.SelfAttribute("..workflow"))
    name = ""

    class Meta:
        model = Transition


# --- Tickets and what is kept about them ----------------------------------------------
class TicketFactory(factory.django.DjangoModelFactory[Ticket]):
    """A ticket in the first stage of the default workflow."""

    class Meta:
        model = Ticket

    title = factory.Sequence(lambda n: f"Ticket {n}")
    description = "Something is broken."
    requester = factory.SubFactory(UserFactory)
    workflow = factory.LazyFunction(default_workflow)
    stage = factory.LazyAttribute(lambda t: t.workflow.initial_stage)


class CommentFactory(factory.django.DjangoModelFactory[Comment]):
    """A public comment of the ticket's requester."""

    class Meta:
        model = Comment

    ticket = factory.SubFactory(TicketFactory)
    author = factory.LazyAttribute(lambda c: c.ticket.requester)
    body = factory.Sequence(lambda n: f"Comment {n}")
    is_internal = False


class AttachmentFactory(factory.django.DjangoModelFactory[Attachment]):
    """A small text file on a comment, stored under MEDIA_ROOT."""

    class Meta:
        model = Attachment

    comment = factory.SubFactory(CommentFactory)
    filename = "notes.txt"
    content_type = "text/plain"
    file = factory.LazyAttribute(lambda a: ContentFile(b"Some notes.\n", name=a.filename))
    size = factory.LazyAttribute(lambda a: a.file.size)


class TicketWatcherFactory(factory.django.DjangoModelFactory[TicketWatcher]):
    class Meta:
        model = TicketWatcher

    ticket = factory.SubFactory(TicketFactory)
    user = factory.SubFactory(UserFactory)


class HistoryLogFactory(factory.django.DjangoModelFactory[HistoryLog]):
    """A history row as the services write them (field, old and new value as text)."""

    class Meta:
        model = HistoryLog

    ticket = factory.SubFactory(TicketFactory)
    actor = factory.LazyAttribute(lambda h: h.ticket.requester)
    field = "title"
    old_value = "Before"
    new_value = "After"


# --- Teams -----------------------------------------------------------------------------
class TeamFactory(factory.django.DjangoModelFactory[Team]):
    """A team assigning by hand; ``members=[agent, ...]`` makes them its members (no lead)."""

    class Meta:
        model = Team
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Team {n}")

    @factory.post_generation
    def members(self, create: bool, users: Sequence[User] | None, **kwargs: Any) -> None:
        if create and users:
            for user in users:
                TeamMembershipFactory(team=self, user=user)


class TeamMembershipFactory(factory.django.DjangoModelFactory[TeamMembership]):
    class Meta:
        model = TeamMembership

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(AgentFactory)
    is_lead = False


class RoutingRuleFactory(factory.django.DjangoModelFactory[RoutingRule]):
    """A rule matching every ticket unless conditions are given."""

    class Meta:
        model = RoutingRule

    name = factory.Sequence(lambda n: f"Rule {n}")
    position = factory.Sequence(lambda n: n + 1)
    team = factory.SubFactory(TeamFactory)
