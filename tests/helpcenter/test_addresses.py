"""The help center's addresses: the spec's paths, the first release's paths moved for
good, category slugs that cannot hide a page, and the help center's own 404."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, get_resolver

from helpcenter import urls as helpcenter_urls
from knowledge.models import RESERVED_CATEGORY_SLUGS
from tests.helpcenter.conftest import INTERNAL_MARKER

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("path", "title"),
    [
        ("/help/", "Help center"),
        ("/help/network/", "Network"),
        ("/help/articles/connect-to-the-vpn/", "Connect to the VPN"),
        ("/help/search/?q=vpn", "Search: vpn"),
    ],
)
def test_the_pages_answer_at_the_addresses_the_spec_names(
    scene: None, client: Client, path: str, title: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert f"<title>{title} · NixFlow</title>" in response.content.decode()
    assert client.get("/help/sitemap.xml").status_code == 200


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("/help/a/connect-to-the-vpn/", "/help/articles/connect-to-the-vpn/"),
        ("/help/c/network/", "/help/network/"),
    ],
)
def test_the_first_releases_addresses_move_permanently(
    scene: None, client: Client, old: str, new: str
) -> None:
    response = client.get(old)
    assert response.status_code == 301
    assert response["Location"] == new
    assert client.get(new).status_code == 200


def test_every_fixed_page_is_a_reserved_category_slug() -> None:
    """A category at /help/<slug>/ must never shadow a page of the help center: every
    first segment of a fixed page that a slug could spell is reserved."""
    could_be_a_slug = set()
    for pattern in helpcenter_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        route = str(pattern.pattern)
        if route.startswith("^") or route in {"", "<slug:slug>/"}:
            continue  # the catch-all, the home page, the category page itself
        first = route.split("/", 1)[0]
        if "." in first:
            continue  # sitemap.xml, sitemap-<section>.xml: no slug has a dot
        assert "<" not in first, f"{route} starts with a variable: it would shadow categories"
        could_be_a_slug.add(first)
    assert could_be_a_slug == {"search", "articles", "a", "c"}
    assert could_be_a_slug <= RESERVED_CATEGORY_SLUGS


@pytest.mark.parametrize(
    "path",
    [
        "/help/no-such-category/",
        "/help/articles/",
        "/help/articles/no-such-article/",
        "/help/some/deeper/path/",
        "/help/runbooks/",  # a category of internal articles only
        "/help/articles/restart-the-vpn-concentrator/",
        "/help/articles/vpn-draft/",
    ],
)
def test_unknown_and_hidden_addresses_get_the_help_centers_404(
    scene: None, client: Client, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 404
    text = response.content.decode()
    assert "We can&#x27;t find that page" in text or "We can't find that page" in text
    assert 'class="site-header"' in text
    assert INTERNAL_MARKER not in text


def test_an_address_without_its_last_slash_goes_on_to_the_page(scene: None, client: Client) -> None:
    response = client.get("/help/articles/connect-to-the-vpn?x=1")
    assert response.status_code == 301
    assert response["Location"] == "/help/articles/connect-to-the-vpn/?x=1"
    assert client.get("/help/nothing/here").status_code == 404


def test_the_catch_all_is_the_last_pattern() -> None:
    names = [getattr(p, "name", None) for p in get_resolver("helpcenter.urls").url_patterns]
    assert names[-1] == "unknown"
