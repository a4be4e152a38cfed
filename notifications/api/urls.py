from django.urls import path
from rest_framework.routers import SimpleRouter

from notifications.api.views import NotificationPreferencesView, NotificationViewSet

# Same shape as every app's api/urls.py (a router, then plain views): routes, not logic.
router = SimpleRouter()
router.register("notifications", NotificationViewSet, basename="notification")

urlpatterns = [
    # Before the router's routes, so that "preferences" is never read as an id.
    path(
        "notifications/preferences/",
        NotificationPreferencesView.as_view(),
        name="notification-preferences",
    ),
    *router.urls,
]
