"""Writes of the core app. Every interface (admin, API, mail, forms, tasks) calls these."""

from __future__ import annotations

from django.db import transaction

from nixflow.models import Role, User


@transaction.atomic
def user_create(
    *,
    username: str,
    email: str,
    role: Role,
    password: str | None = None,
    first_name: str = "",
    last_name: str = "",
) -> User:
    """Create a user; admins get the admin site with every permission, agents the admin
    site with the permissions their group grants (added by the core issue)."""
    user = User(
        username=username,
        email=email,
        role=role,
        first_name=first_name,
        last_name=last_name,
        is_staff=role in {Role.AGENT, Role.ADMIN},
        is_superuser=role == Role.ADMIN,
    )
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.full_clean()
    user.save()
    return user
