"""Every content change is a numbered version; versions are compared and restored."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from eventlog.models import EventLog
from knowledge import selectors, services
from knowledge.models import KnowledgeArticleVersion
from nixflow.models import User
from tests.knowledge.conftest import client_for
from tests.knowledge.factories import ArticleFactory, VersionFactory

pytestmark = pytest.mark.django_db


def test_creating_an_article_makes_version_one_with_author_and_note(editor: User) -> None:
    article = ArticleFactory(title="VPN setup", note="First draft.", author=editor)

    version = KnowledgeArticleVersion.objects.get(article=article)
    assert (version.number, version.title, version.author, version.note) == (
        1,
        "VPN setup",
        editor,
        "First draft.",
    )
    assert article.version == 1


def test_each_content_change_makes_the_next_version(editor: User) -> None:
    article = ArticleFactory(title="VPN setup", body="Old steps.")

    services.article_update(
        article=article, actor=editor, data={"body": "New steps."}, note="New client."
    )
    article = services.article_update(
        article=article, actor=editor, data={"title": "VPN set-up"}, note="Spelling."
    )

    numbers = list(
        article.versions.order_by("number").values_list("number", "title", "body", "note")
    )
    assert numbers == [
        (1, "VPN setup", "Old steps.", "Created."),
        (2, "VPN setup", "New steps.", "New client."),
        (3, "VPN set-up", "New steps.", "Spelling."),
    ]
    assert article.version == 3
    assert article.body_html == "<p>New steps.</p>"


def test_metadata_changes_and_no_op_saves_make_no_version(editor: User) -> None:
    article = ArticleFactory(title="VPN setup")

    services.article_update(article=article, actor=editor, data={"kind": "FAQ"})
    services.article_update(article=article, actor=editor, data={"title": "VPN setup"})

    article.refresh_from_db()
    assert (article.version, article.kind, article.versions.count()) == (1, "FAQ", 1)


def test_diff_shows_what_changed_between_two_versions(editor: User) -> None:
    article = ArticleFactory(title="Printer", body="Line one.\nLine two.")
    services.article_update(
        article=article, actor=editor, data={"body": "Line one.\nLine 2, <b>bold</b>."}
    )

    diffs = {
        d.field: d
        for d in selectors.version_diff(
            old=selectors.version_get(article=article, number=1),
            new=selectors.version_get(article=article, number=2),
        )
    }

    assert not diffs["title"].changed
    assert diffs["body"].changed
    assert "-Line two." in diffs["body"].unified
    assert "+Line 2, <b>bold</b>." in diffs["body"].unified
    assert "&lt;b&gt;bold&lt;/b&gt;" in diffs["body"].html  # escaped for the admin page


def test_a_diff_of_versions_with_the_same_texts_shows_nothing_changed() -> None:
    article = ArticleFactory(title="Printer", body="Same.")
    first = article.versions.get()
    same = VersionFactory(article=article, note="Only the note differs.")

    diffs = selectors.version_diff(old=first, new=same)

    assert same.number == 2
    assert [(d.field, d.changed, d.unified, d.html) for d in diffs] == [
        ("title", False, "", ""),
        ("summary", False, "", ""),
        ("body", False, "", ""),
    ]


def test_restore_makes_a_new_version_with_the_old_content(editor: User) -> None:
    article = ArticleFactory(title="Wi-Fi", body="Original.")
    services.article_update(article=article, actor=editor, data={"body": "Broken edit."})

    article = services.article_restore(article=article, version_number=1, actor=editor)

    assert (article.version, article.body, article.body_html) == (
        3,
        "Original.",
        "<p>Original.</p>",
    )
    latest = article.versions.get(number=3)
    assert (latest.body, latest.restored_from, latest.note) == (
        "Original.",
        1,
        "Restored version 1.",
    )
    assert article.versions.count() == 3
    assert EventLog.objects.filter(
        type="knowledge.article.restored", subject_id=str(article.pk)
    ).exists()


def test_restoring_a_missing_or_identical_version_is_refused(editor: User) -> None:
    article = ArticleFactory()

    with pytest.raises(ValidationError, match="no version 7"):
        services.article_restore(article=article, version_number=7, actor=editor)
    with pytest.raises(ValidationError, match="same as the current"):
        services.article_restore(article=article, version_number=1, actor=editor)


def test_requesters_cannot_edit_or_restore(reader: User) -> None:
    article = ArticleFactory()

    with pytest.raises(PermissionDenied):
        services.article_update(article=article, actor=reader, data={"body": "x"})
    with pytest.raises(PermissionDenied):
        services.article_restore(article=article, version_number=1, actor=reader)


def test_api_lists_versions_diffs_and_restores(editor: User) -> None:
    article = ArticleFactory(title="Teams", body="Camera steps.")
    client = client_for(editor)
    assert (
        client.patch(
            f"/api/knowledge/articles/{article.pk}/",
            {"body": "Better camera steps.", "note": "Clearer."},
            format="json",
        ).status_code
        == 200
    )

    versions = client.get(f"/api/knowledge/articles/{article.pk}/versions/").json()
    one = client.get(f"/api/knowledge/articles/{article.pk}/versions/1/").json()
    diff = client.get(f"/api/knowledge/articles/{article.pk}/diff/?from_version=1").json()
    restored = client.post(
        f"/api/knowledge/articles/{article.pk}/restore/", {"version": 1}, format="json"
    )

    assert [v["number"] for v in versions["results"]] == [2, 1]
    assert versions["results"][0]["note"] == "Clearer."
    assert one["body"] == "Camera steps."
    assert diff["to_version"] == 2
    assert [f["field"] for f in diff["fields"] if f["changed"]] == ["body"]
    assert restored.status_code == 200
    assert (restored.json()["version"], restored.json()["body"]) == (3, "Camera steps.")


@pytest.mark.parametrize(
    ("payload", "field"),
    [({}, "version"), ({"version": "x"}, "version"), ({"version": 0}, "version"),
     ({"version": 99}, "version"), ({"version": 10**20}, "version")],
)  # fmt: skip
def test_api_restore_bad_input_is_400_naming_the_field(
    editor: User, payload: dict, field: str
) -> None:
    article = ArticleFactory()

    response = client_for(editor).post(
        f"/api/knowledge/articles/{article.pk}/restore/", payload, format="json"
    )

    assert response.status_code == 400
    assert field in response.json()


def test_api_versions_are_for_agents_only(reader: User) -> None:
    article = ArticleFactory()

    assert (
        client_for(reader).get(f"/api/knowledge/articles/{article.pk}/versions/").status_code == 403
    )
    assert client_for(None).get(f"/api/knowledge/articles/{article.pk}/versions/").status_code in {
        401,
        403,
    }
