"""Single sign-on at /sso/ (docs/sso.md)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from sso import views

app_name = "sso"
urlpatterns: list[URLPattern | URLResolver] = [
    path("signin/", views.SignInView.as_view(), name="signin"),
    path("callback/", views.CallbackView.as_view(), name="callback"),
    path("signout/", views.signout, name="signout"),
    path("signed-out/", views.signed_out, name="signed_out"),
]
