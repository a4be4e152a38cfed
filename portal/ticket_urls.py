"""The requester's tickets and new requests (names ``portal:tickets`` at /portal/,
``portal:ticket``, ``portal:new``, ...)."""

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
