"""The satisfaction survey's pages (no sign-in: the link's signed token is the key)."""

from django.urls import URLPattern, URLResolver

app_name = "csat"

urlpatterns: list[URLPattern | URLResolver] = []
