"""The help center's pages, under /help/.

The fixed pages come first; ``/help/<slug>/`` is a category's page, so no category may
have a slug a fixed page uses (``knowledge.models.RESERVED_CATEGORY_SLUGS``, refused by
the category service; a test keeps the two in step). Anything else under /help/ is the
help center's own 404.
"""

from django.contrib.sitemaps.views import sitemap
from django.urls import URLPattern, URLResolver, path, re_path

from helpcenter import views
from helpcenter.sitemaps import SITEMAPS

app_name = "helpcenter"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.home, name="home"),
    path("search/", views.search_page, name="search"),
    path("search/<uuid:token>/articles/<slug:slug>/", views.search_click, name="search-click"),
    path("articles/<slug:slug>/", views.article, name="article"),
    path("articles/<slug:slug>/helpful/", views.rate, name="rate"),
    path("articles/<slug:slug>/feedback/", views.feedback, name="feedback"),
    # django.contrib.sitemaps' view with our template: the app need not be installed.
    path(
        "sitemap.xml",
        sitemap,
        {"sitemaps": SITEMAPS, "template_name": "helpcenter/sitemap.xml"},
        name="sitemap",
    ),
    # The first release's addresses: answered for good with a 301 to today's.
    path("a/<slug:slug>/", views.former_article_address, name="former-article"),
    path("c/<slug:slug>/", views.former_category_address, name="former-category"),
    path("search/<uuid:token>/a/<slug:slug>/", views.search_click),
    path("<slug:slug>/", views.category, name="category"),
    re_path(r"^.*$", views.unknown_path, name="unknown"),
]
