"""The satisfaction survey's pages (no sign-in: the link's signed token is the key)."""

from django.urls import URLPattern, URLResolver, path, re_path

from csat import views

app_name = "csat"

urlpatterns: list[URLPattern | URLResolver] = [
    path("<str:token>/", views.survey_page, name="survey"),
    path("<str:token>/thanks/", views.thanks_page, name="thanks"),
    # The mail's one-click links: the answer preselected, confirmed by a button.
    re_path(r"^(?P<token>[^/]+)/(?P<choice>good|bad)/$", views.survey_page, name="survey_choice"),
]
