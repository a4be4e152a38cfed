"""Categories and tags: where articles are filed and how they are labelled.

Agents (and the system) create, change and delete them; the admin and the API both call
these services, which record one event each (payloads in ``knowledge.events``).

Deleting: a category that still holds articles or subcategories is refused with a
ValidationError saying what to move first (the API answers 400, the admin shows the
message); a tag is removed from its articles, whose content and versions are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Model
from django.db.models.deletion import ProtectedError

from knowledge import events
from knowledge.models import (
    RESERVED_CATEGORY_SLUGS,
    KnowledgeCategory,
    KnowledgeCategoryFormerSlug,
    KnowledgeTag,
)
from knowledge.services._common import (
    SLUG_TAKEN,
    require_agent,
    save_new,
    unique_slug,
    unique_violations_as_errors,
)
from nixflow.models import User
from nixflow.toolkit.errors import ConflictError
from nixflow.toolkit.services import Changes, model_update

CATEGORY_FIELDS = ("name", "slug", "parent", "description", "position")
TAG_FIELDS = ("name", "slug")
_CATEGORY_SLUG_LENGTH = 120
_TAG_SLUG_LENGTH = 60

# The unique indexes a concurrent write can still violate after full_clean's checks.
_CATEGORY_TAKEN = {
    **SLUG_TAKEN,
    "knowledge_category_name_unique_in_parent": (
        "name",
        "A category with this name exists here already.",
    ),
}
_TAG_TAKEN = {
    **SLUG_TAKEN,
    "knowledge_tag_name_ci_unique": ("name", "A tag with this name already exists."),
}


def _plain(value: Any) -> Any:
    """A value as an event payload stores it: a row by its primary key."""
    return value.pk if isinstance(value, Model) else value


def _changes_payload(changes: Changes) -> dict[str, Any]:
    return {"changes": {name: [_plain(old), _plain(new)] for name, (old, new) in changes.items()}}


# Alike in shape to other payload builders (tags below, forms, core workflows): other fields.
def _category_values(category: KnowledgeCategory) -> dict[str, Any]:
    return {
        "name": category.name,
        "slug": category.slug,
        "parent": category.parent_id,
        "description": category.description,
        "position": category.position,
    }


def _tag_values(tag: KnowledgeTag) -> dict[str, Any]:
    return {"name": tag.name, "slug": tag.slug}


def _cleaned(data: dict[str, Any], model: Any, pk: int, name: str, limit: int) -> dict[str, Any]:
    """``data`` with the name stripped (as on create) and an emptied slug made from the
    name again."""
    data = dict(data)
    if isinstance(data.get("name"), str):
        data["name"] = data["name"].strip()
    if data.get("slug") == "":
        reserved = RESERVED_CATEGORY_SLUGS if model is KnowledgeCategory else frozenset()
        data["slug"] = unique_slug(
            model, data.get("name", name), exclude_pk=pk, limit=limit, reserved=reserved
        )
    return data


def _lock_category_tree() -> None:
    """Serialize changes of parents: ``KnowledgeCategory.clean`` refuses a cycle by
    walking up the tree, which two concurrent moves (A under B, B under A) could each
    pass. Moves are rare, so one transaction-scoped advisory lock for all of them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('knowledge.category_tree', 0))"
        )


# --- Categories ---------------------------------------------------------------------------
@transaction.atomic
def category_create(
    *,
    name: str,
    actor: User | None,
    slug: str = "",
    parent: KnowledgeCategory | None = None,
    description: str = "",
    position: int = 0,
) -> KnowledgeCategory:
    """A new category (under ``parent``); the slug is made from the name when empty.
    A slug the help center uses for its own pages (``RESERVED_CATEGORY_SLUGS``:
    /help/search/, /help/articles/, …) is refused with a ValidationError on ``slug``."""
    require_agent(actor, "manage knowledge categories")
    category = KnowledgeCategory(
        name=name.strip(),
        slug=slug
        or unique_slug(
            KnowledgeCategory,
            name,
            limit=_CATEGORY_SLUG_LENGTH,
            reserved=RESERVED_CATEGORY_SLUGS,
        ),
        parent=parent,
        description=description,
        position=position,
    )
    category.full_clean()
    save_new(category, _CATEGORY_TAKEN)
    # A former address of another category is this one's from now on.
    KnowledgeCategoryFormerSlug.objects.filter(slug=category.slug).delete()
    events.publish(
        events.CATEGORY_CREATED, subject=category, actor=actor, payload=_category_values(category)
    )
    return category


@transaction.atomic
def category_update(
    *, category: KnowledgeCategory, actor: User | None, data: dict[str, Any]
) -> KnowledgeCategory:
    """Change any of name, slug, parent, description and position; unchanged values
    record nothing."""
    require_agent(actor, "manage knowledge categories")
    if "parent" in data:
        _lock_category_tree()
    category = KnowledgeCategory.objects.select_for_update().get(pk=category.pk)
    data = _cleaned(data, KnowledgeCategory, category.pk, category.name, _CATEGORY_SLUG_LENGTH)
    with unique_violations_as_errors(_CATEGORY_TAKEN):
        changes = model_update(instance=category, data=data, allowed=CATEGORY_FIELDS)
    if "slug" in changes:
        # The old address keeps leading here (a 301 in the help center); the new one,
        # if it was any category's former address, is only this one's current one now.
        KnowledgeCategoryFormerSlug.objects.filter(slug=category.slug).delete()
        KnowledgeCategoryFormerSlug.objects.update_or_create(
            slug=changes["slug"][0], defaults={"category": category}
        )
    if changes:
        events.publish(
            events.CATEGORY_UPDATED,
            subject=category,
            actor=actor,
            payload=_changes_payload(changes),
        )
    return category


@transaction.atomic
def category_delete(*, category: KnowledgeCategory, actor: User | None) -> None:
    """Delete an empty category; one with articles or subcategories is refused."""
    require_agent(actor, "manage knowledge categories")
    category = KnowledgeCategory.objects.select_for_update().get(pk=category.pk)
    # The row lock makes writers that would file an article or a subcategory under it
    # (their foreign key check takes a share lock on it) wait until this transaction ends.
    if category.children.exists():
        raise ConflictError("The category has subcategories; move or delete them first.")
    if category.articles.exists():
        raise ConflictError("The category has articles; move them to another category first.")
    events.publish(
        events.CATEGORY_DELETED, subject=category, actor=actor, payload=_category_values(category)
    )
    try:
        with transaction.atomic():
            category.delete()
    except ProtectedError as error:  # filed under it after all: still a refusal, not a 500
        raise ConflictError("The category is in use; move what is in it first.") from error


# --- Tags ---------------------------------------------------------------------------------
@transaction.atomic
def tag_create(*, name: str, actor: User | None, slug: str = "") -> KnowledgeTag:
    """A new tag; the slug is made from the name when empty."""
    require_agent(actor, "manage knowledge tags")
    tag = KnowledgeTag(
        name=name.strip(), slug=slug or unique_slug(KnowledgeTag, name, limit=_TAG_SLUG_LENGTH)
    )
    tag.full_clean()
    save_new(tag, _TAG_TAKEN)
    events.publish(events.TAG_CREATED, subject=tag, actor=actor, payload=_tag_values(tag))
    return tag


@transaction.atomic
def tag_update(*, tag: KnowledgeTag, actor: User | None, data: dict[str, Any]) -> KnowledgeTag:
    """Rename a tag or change its slug; unchanged values record nothing."""
    require_agent(actor, "manage knowledge tags")
    # Same steps as category_update above, for another model, field set, slug length and event.
    tag = KnowledgeTag.objects.select_for_update().get(pk=tag.pk)
    data = _cleaned(data, KnowledgeTag, tag.pk, tag.name, _TAG_SLUG_LENGTH)
    with unique_violations_as_errors(_TAG_TAKEN):
        changes = model_update(instance=tag, data=data, allowed=TAG_FIELDS)
    if changes:
        events.publish(
            events.TAG_UPDATED, subject=tag, actor=actor, payload=_changes_payload(changes)
        )
    return tag


@transaction.atomic
def tag_delete(*, tag: KnowledgeTag, actor: User | None) -> None:
    """Delete a tag: it is removed from its articles (their content is unchanged)."""
    require_agent(actor, "manage knowledge tags")
    tag = KnowledgeTag.objects.select_for_update().get(pk=tag.pk)
    payload = {**_tag_values(tag), "articles": tag.articles.count()}
    events.publish(events.TAG_DELETED, subject=tag, actor=actor, payload=payload)
    tag.delete()


# --- One calling convention for both ------------------------------------------------------
@dataclass(frozen=True)
class TaxonomyWrites:
    """The create, update and delete services of categories or of tags under one calling
    convention, for the interfaces that handle both alike (the admin's ``TaxonomyAdmin``
    and the API's ``TaxonomyViewSet``): each names its entity's writes once, here."""

    create: Callable[..., Model]  # (*, actor, data) -> the new row
    update: Callable[..., Model]  # (*, row, actor, data) -> the row
    delete: Callable[..., None]  # (*, row, actor)


CATEGORY_WRITES = TaxonomyWrites(
    create=lambda *, actor, data: category_create(actor=actor, **data),
    update=lambda *, row, actor, data: category_update(category=row, actor=actor, data=data),
    delete=lambda *, row, actor: category_delete(category=row, actor=actor),
)
TAG_WRITES = TaxonomyWrites(
    create=lambda *, actor, data: tag_create(actor=actor, **data),
    update=lambda *, row, actor, data: tag_update(tag=row, actor=actor, data=data),
    delete=lambda *, row, actor: tag_delete(tag=row, actor=actor),
)
