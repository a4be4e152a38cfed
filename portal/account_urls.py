"""Signing in and out of the portal, and the requester's own settings (names
``portal:signin``, ``portal:signout``, ``portal:settings``, ...)."""

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
