"""``/help/sitemap.xml``: what search engines may index, the public pages only.

Built as an anonymous reader sees the help center (``user=None``), whoever asks: an
agent fetching the sitemap must not publish internal addresses in it.

``/help/sitemap.xml`` is a sitemap index naming one sitemap per section
(``/help/sitemap-articles.xml``, paged by 10,000 addresses with ``?p=``, and
``/help/sitemap-categories.xml``): Django pages each section on its own, so one file of
both would answer 404 past the categories' only page. The addresses are written from a
prefix, not reversed one by one, and the last change of a section is one aggregate, not
a walk over every article.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from django.contrib.sitemaps import Sitemap
from django.db.models import Max
from django.urls import reverse

from helpcenter import reading
from knowledge.models import KnowledgeArticle, KnowledgeCategory


@cache
def _article_prefix() -> str:
    """``/help/articles/``, as the URLconf says (a slug appended makes an address)."""
    return reverse("helpcenter:article", kwargs={"slug": "x"}).removesuffix("x/")


class ArticleSitemap(Sitemap):
    limit = 10_000  # the sitemap protocol allows 50,000 URLs a file; Django pages it

    def items(self) -> Any:
        return reading.public_article_addresses()

    def location(self, item: KnowledgeArticle) -> str:
        return f"{_article_prefix()}{item.slug}/"

    def lastmod(self, item: KnowledgeArticle) -> datetime:
        return item.updated

    def get_latest_lastmod(self) -> datetime | None:
        # Sitemap's own walks every item (85,000 rows at 100,000 articles).
        latest: datetime | None = self.items().aggregate(latest=Max("updated"))["latest"]
        return latest


class CategorySitemap(Sitemap):
    def items(self) -> list[KnowledgeCategory]:
        return reading.categories(user=None)

    def location(self, item: KnowledgeCategory) -> str:
        return reverse("helpcenter:category", kwargs={"slug": item.slug})


SITEMAPS = {"articles": ArticleSitemap, "categories": CategorySitemap}
