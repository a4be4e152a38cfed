"""The requester portal's pages, under /portal/: signing in (``portal.account_urls``)
and the requester's tickets and new requests (``portal.ticket_urls``)."""

from django.urls import URLPattern, URLResolver

from portal import account_urls, ticket_urls

app_name = "portal"

urlpatterns: list[URLPattern | URLResolver] = [
    *account_urls.urlpatterns,
    *ticket_urls.urlpatterns,
]
