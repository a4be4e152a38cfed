"""The help center's pages, under /help/.

The fixed pages come first; ``/help/<slug>/`` is a category's page, so no category may
have a slug a fixed page uses (``knowledge.models.RESERVED_CATEGORY_SLUGS``, refused by
the category service; a test keeps the two in step). Anything else under /help/ is the
help center's own 404.
"""

from django.contrib.sitemaps import views as sitemaps_views
from django.urls import URLPattern, URLResolver, path, re_path
from django.views.decorators.cache import cache_page

from helpcenter import views
from helpcenter.sitemaps import SITEMAPS

app_name = "helpcenter"
SITEMAP_SECONDS = 3600  # a new article is in the sitemap within the hour

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.home, name="home"),
    path("search/", views.search_page, name="search"),
    path("search/<uuid:token>/articles/<slug:slug>/", views.search_click, name="search-click"),
    path("articles/<slug:slug>/", views.article, name="article"),
    path("articles/<slug:slug>/helpful/", views.rate, name="rate"),
    path("articles/<slug:slug>/feedback/", views.feedback, name="feedback"),
    # django.contrib.sitemaps' views with our templates (the app need not be installed),
    # kept an hour in the cache: 10,000 addresses a page are not made for every crawler.
    path(
        "sitemap.xml",
        cache_page(SITEMAP_SECONDS)(sitemaps_views.index),
        {
            "sitemaps": SITEMAPS,
            "sitemap_url_name": "helpcenter:sitemap-section",
            "template_name": "helpcenter/sitemap_index.xml",
        },
        name="sitemap",
    ),
    path(
        "sitemap-<section>.xml",
        cache_page(SITEMAP_SECONDS)(sitemaps_views.sitemap),
        {"sitemaps": SITEMAPS, "template_name": "helpcenter/sitemap.xml"},
        name="sitemap-section",
    ),
    # The first release's addresses: answered for good with a 301 to today's.
    path("a/<slug:slug>/", views.former_article_address, name="former-article"),
    path("c/<slug:slug>/", views.former_category_address, name="former-category"),
    path("search/<uuid:token>/a/<slug:slug>/", views.search_click),
    path("<slug:slug>/", views.category, name="category"),
    re_path(r"^.*$", views.unknown_path, name="unknown"),
]
