"""``/help/sitemap.xml``: what search engines may index, the public pages only.

Built as an anonymous reader sees the help center (``user=None``), whoever asks: an
agent fetching the sitemap must not publish internal addresses in it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.sitemaps import Sitemap
from django.urls import reverse

from helpcenter import reading
from knowledge.models import KnowledgeArticle, KnowledgeCategory


class ArticleSitemap(Sitemap):
    limit = 10_000  # the sitemap protocol allows 50,000 URLs a file; Django pages it

    def items(self) -> Any:
        return reading.public_article_addresses()

    def location(self, item: KnowledgeArticle) -> str:
        return reverse("helpcenter:article", kwargs={"slug": item.slug})

    def lastmod(self, item: KnowledgeArticle) -> datetime:
        return item.updated


class CategorySitemap(Sitemap):
    def items(self) -> list[KnowledgeCategory]:
        return reading.categories(user=None)

    def location(self, item: KnowledgeCategory) -> str:
        return reverse("helpcenter:category", kwargs={"slug": item.slug})


SITEMAPS = {"articles": ArticleSitemap, "categories": CategorySitemap}
