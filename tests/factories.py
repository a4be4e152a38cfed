"""factory-boy factories for every model the tests create, in one place."""

from __future__ import annotations

import factory

from nixflow.models import Role, User


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    role = Role.REQUESTER
    password = factory.django.Password("correct horse battery staple")
    is_staff = factory.LazyAttribute(lambda u: u.role in {Role.AGENT, Role.ADMIN})
