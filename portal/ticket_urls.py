"""The requester's tickets and new requests (names ``portal:tickets`` at /portal/,
``portal:ticket``, ``portal:new``, ...)."""

from django.urls import URLPattern, URLResolver, path

from portal import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.tickets, name="tickets"),
    path("tickets/<str:key>/", views.ticket, name="ticket"),
    path("tickets/<str:key>/reply/", views.reply, name="reply"),
    path("tickets/<str:key>/stage/", views.stage, name="stage"),
    path("tickets/<str:key>/unwatch/", views.unwatch, name="unwatch"),
    path("tickets/<str:key>/files/<int:attachment_id>/", views.attachment, name="attachment"),
    path("new/", views.new, name="new"),
    path("new/suggestions/", views.suggestions, name="suggestions"),
    path(
        "new/<uuid:token>/open/<int:article_id>/",
        views.open_suggestion,
        name="open-suggestion",
    ),
]
