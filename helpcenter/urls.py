"""The help center's pages, under /help/."""

from django.contrib.sitemaps.views import sitemap
from django.urls import URLPattern, URLResolver, path

from helpcenter import views
from helpcenter.sitemaps import SITEMAPS

app_name = "helpcenter"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.home, name="home"),
    path("search/", views.search_page, name="search"),
    path("search/<uuid:token>/a/<slug:slug>/", views.search_click, name="search-click"),
    path("c/<slug:slug>/", views.category, name="category"),
    path("a/<slug:slug>/", views.article, name="article"),
    path("a/<slug:slug>/helpful/", views.rate, name="rate"),
    path("a/<slug:slug>/feedback/", views.feedback, name="feedback"),
    # django.contrib.sitemaps' view with our template: the app need not be installed.
    path(
        "sitemap.xml",
        sitemap,
        {"sitemaps": SITEMAPS, "template_name": "helpcenter/sitemap.xml"},
        name="sitemap",
    ),
]
