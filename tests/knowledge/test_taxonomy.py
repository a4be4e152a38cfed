"""Categories and tags: written through their services by the API and the admin alike,
each change one event with the same type and payload whichever interface made it."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from eventlog.models import EventLog
from knowledge import services
from knowledge.models import KnowledgeArticle, KnowledgeCategory, KnowledgeTag
from nixflow.models import User
from tests.knowledge.conftest import client_for, events_of, messages_of
from tests.knowledge.factories import ArticleFactory, CategoryFactory, TagFactory

pytestmark = pytest.mark.django_db

Recorded = list[tuple[str, dict[str, Any], int | None]]


def _last_event_id() -> int:
    return EventLog.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _recorded(model: type[Any], pk: int, since: int) -> Recorded:
    """Type, payload and actor of each event about the row ``pk`` since ``since``."""
    return [
        (event.type, event.payload, event.actor_id)
        for event in EventLog.objects.filter(
            subject_model=model._meta.model_name, subject_id=str(pk), id__gt=since
        ).order_by("id")
    ]


def _admin_events_since(since: int) -> list[str]:
    return list(
        EventLog.objects.filter(type__startswith="admin.", id__gt=since).values_list(
            "type", flat=True
        )
    )


# --- the same change through the API and through the admin -------------------------------
def _category_through_the_api(editor: User, network: KnowledgeCategory) -> tuple[int, int]:
    client = client_for(editor)
    since = _last_event_id()
    created = client.post(
        "/api/knowledge/categories/",
        {"name": "Wi-Fi", "parent": network.pk, "description": "Wireless networks", "position": 2},
        format="json",
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    url = f"/api/knowledge/categories/{pk}/"
    changed = client.patch(url, {"name": "Wireless", "parent": None, "position": 3}, format="json")
    assert changed.status_code == 200, changed.content
    assert client.delete(url).status_code == 204
    return pk, since


def _category_through_the_admin(browser: Client, network: KnowledgeCategory) -> tuple[int, int]:
    since = _last_event_id()
    form = {"name": "Wi-Fi", "slug": "", "parent": network.pk}
    form |= {"description": "Wireless networks", "position": 2}
    added = browser.post(reverse("admin:knowledge_knowledgecategory_add"), form)
    assert added.status_code == 302, added.content.decode()[:3000]
    pk = KnowledgeCategory.objects.get(name="Wi-Fi").pk
    form |= {"name": "Wireless", "slug": "wi-fi", "parent": "", "position": 3}
    changed = browser.post(reverse("admin:knowledge_knowledgecategory_change", args=[pk]), form)
    assert changed.status_code == 302, changed.content.decode()[:3000]
    deleted = browser.post(
        reverse("admin:knowledge_knowledgecategory_delete", args=[pk]), {"post": "yes"}
    )
    assert deleted.status_code == 302
    return pk, since


def test_the_api_and_the_admin_record_the_same_category_events(
    editor: User, browser: Client
) -> None:
    network = CategoryFactory(name="Network")

    api_pk, api_since = _category_through_the_api(editor, network)
    admin_pk, admin_since = _category_through_the_admin(browser, network)

    through_api = _recorded(KnowledgeCategory, api_pk, api_since)
    through_admin = _recorded(KnowledgeCategory, admin_pk, admin_since)
    values = {"name": "Wi-Fi", "slug": "wi-fi", "description": "Wireless networks"}
    assert through_api == [
        ("knowledge.category.created", {**values, "parent": network.pk, "position": 2}, editor.pk),
        (
            "knowledge.category.updated",
            {"changes": {"name": ["Wi-Fi", "Wireless"], "parent": [network.pk, None],
                         "position": [2, 3]}},
            editor.pk,
        ),
        (
            "knowledge.category.deleted",
            {**values, "name": "Wireless", "parent": None, "position": 3},
            editor.pk,
        ),
    ]  # fmt: skip
    assert through_admin == through_api
    assert _admin_events_since(api_since) == []
    assert not KnowledgeCategory.objects.filter(pk__in=[api_pk, admin_pk]).exists()


def _tag_through_the_api(editor: User) -> tuple[int, int]:
    client = client_for(editor)
    since = _last_event_id()
    created = client.post("/api/knowledge/tags/", {"name": "Remote work"}, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    ArticleFactory(tags=[KnowledgeTag.objects.get(pk=pk)])
    url = f"/api/knowledge/tags/{pk}/"
    changed = client.patch(url, {"name": "Remote", "slug": "remote"}, format="json")
    assert changed.status_code == 200, changed.content
    assert client.delete(url).status_code == 204
    return pk, since


def _tag_through_the_admin(browser: Client) -> tuple[int, int]:
    since = _last_event_id()
    added = browser.post(reverse("admin:knowledge_knowledgetag_add"), {"name": "Remote work"})
    assert added.status_code == 302, added.content.decode()[:3000]
    tag = KnowledgeTag.objects.get(name="Remote work")
    ArticleFactory(tags=[tag])
    changed = browser.post(
        reverse("admin:knowledge_knowledgetag_change", args=[tag.pk]),
        {"name": "Remote", "slug": "remote"},
    )
    assert changed.status_code == 302, changed.content.decode()[:3000]
    deleted = browser.post(
        reverse("admin:knowledge_knowledgetag_delete", args=[tag.pk]), {"post": "yes"}
    )
    assert deleted.status_code == 302
    return tag.pk, since


def test_the_api_and_the_admin_record_the_same_tag_events(editor: User, browser: Client) -> None:
    api_pk, api_since = _tag_through_the_api(editor)
    admin_pk, admin_since = _tag_through_the_admin(browser)

    through_api = _recorded(KnowledgeTag, api_pk, api_since)
    through_admin = _recorded(KnowledgeTag, admin_pk, admin_since)
    assert through_api == [
        ("knowledge.tag.created", {"name": "Remote work", "slug": "remote-work"}, editor.pk),
        (
            "knowledge.tag.updated",
            {"changes": {"name": ["Remote work", "Remote"], "slug": ["remote-work", "remote"]}},
            editor.pk,
        ),
        ("knowledge.tag.deleted", {"name": "Remote", "slug": "remote", "articles": 1}, editor.pk),
    ]
    assert through_admin == through_api
    assert _admin_events_since(api_since) == []
    # Deleting the tag took it off its articles and left them as they were.
    assert KnowledgeArticle.objects.count() == 2
    assert not KnowledgeArticle.tags.through.objects.exists()


# --- the services ---------------------------------------------------------------------------
def test_saving_unchanged_values_records_nothing(editor: User) -> None:
    category = CategoryFactory(name="Network", description="Cables")
    tag = TagFactory(name="vpn")
    since = _last_event_id()

    services.category_update(
        category=category, actor=editor, data={"name": " Network ", "description": "Cables"}
    )
    services.tag_update(tag=tag, actor=editor, data={"name": "vpn"})

    assert _recorded(KnowledgeCategory, category.pk, since) == []
    assert _recorded(KnowledgeTag, tag.pk, since) == []


def test_an_emptied_slug_is_made_from_the_name_again(editor: User) -> None:
    category = CategoryFactory(name="Network", slug="net")
    CategoryFactory(name="Other", slug="printers")

    category = services.category_update(
        category=category, actor=editor, data={"name": "Printers", "slug": ""}
    )

    assert category.slug == "printers-2"
    assert events_of(category)[-1][1] == {
        "changes": {"name": ["Network", "Printers"], "slug": ["net", "printers-2"]}
    }


def test_unknown_fields_and_requesters_are_refused(editor: User, reader: User) -> None:
    category = CategoryFactory()

    with pytest.raises(ValidationError, match="cannot be changed here: created"):
        services.category_update(category=category, actor=editor, data={"created": None})
    for write in (
        lambda: services.category_create(name="x", actor=reader),
        lambda: services.tag_create(name="x", actor=reader),
        lambda: services.tag_delete(tag=TagFactory(), actor=reader),
    ):
        with pytest.raises(PermissionDenied, match="Only agents"):
            write()


# --- deleting a category in use -------------------------------------------------------------
def test_the_api_refuses_to_delete_a_category_in_use_saying_why(editor: User) -> None:
    network = CategoryFactory(name="Network")
    CategoryFactory(name="Wi-Fi", parent=network)
    printers = CategoryFactory(name="Printers")
    ArticleFactory(category=printers)
    since = _last_event_id()

    with_children = client_for(editor).delete(f"/api/knowledge/categories/{network.pk}/")
    with_articles = client_for(editor).delete(f"/api/knowledge/categories/{printers.pk}/")

    assert with_children.status_code == 409
    assert "subcategories" in with_children.json()["detail"]
    assert with_articles.status_code == 409
    assert "has articles" in with_articles.json()["detail"]
    assert KnowledgeCategory.objects.filter(pk__in=[network.pk, printers.pk]).count() == 2
    assert _last_event_id() == since


def test_the_admin_refuses_to_delete_a_category_in_use(browser: Client) -> None:
    printers = CategoryFactory(name="Printers")
    ArticleFactory(category=printers, title="Printer jams")
    url = reverse("admin:knowledge_knowledgecategory_delete", args=[printers.pk])
    since = _last_event_id()

    page = browser.get(url)
    posted = browser.post(url, {"post": "yes"})

    # Django's delete page lists the articles that keep it, and deletes nothing.
    assert page.status_code == posted.status_code == 200
    assert "Printer jams" in posted.content.decode()
    assert KnowledgeCategory.objects.filter(pk=printers.pk).exists()
    assert _last_event_id() == since


def test_a_refusal_of_the_delete_service_is_a_message_in_the_admin_not_a_500(
    browser: Client,
) -> None:
    published = ArticleFactory(title="Printer jams")
    url = reverse("admin:knowledge_knowledgearticle_delete", args=[published.pk])
    since = _last_event_id()

    response = browser.post(url, {"post": "yes"}, follow=True)

    assert response.status_code == 200
    assert any("archive it instead" in m for m in messages_of(response))
    assert KnowledgeArticle.objects.filter(pk=published.pk).exists()
    assert _last_event_id() == since
    assert not LogEntry.objects.filter(object_id=str(published.pk)).exists()
