"""Signing in and out of the portal, and the requester's own settings (names
``portal:signin``, ``portal:signout``, ``portal:settings``, ...)."""

from django.urls import URLPattern, URLResolver, path

from portal import account_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("signin/", account_views.signin, name="signin"),
    path("signin/link/", account_views.signin_link_sent, name="signin_link_sent"),
    path(
        "signin/link/<str:uidb64>/<str:token>/",
        account_views.signin_link,
        name="signin_link",
    ),
    path("signout/", account_views.signout, name="signout"),
    path("settings/", account_views.account_settings, name="settings"),
]
