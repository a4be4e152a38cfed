from django.urls import path
from rest_framework.routers import SimpleRouter

from email_integration.api.views import (
    EmailAccountViewSet,
    EmailMessageViewSet,
    InboundMessageView,
)

# Same shape as every app's api/urls.py (a router, then plain views): routes, not logic.
router = SimpleRouter()
router.register("email/accounts", EmailAccountViewSet, basename="email-account")
router.register("email/messages", EmailMessageViewSet, basename="email-message")

urlpatterns = [
    path("email/inbound/<int:account_id>/", InboundMessageView.as_view(), name="email-inbound"),
    *router.urls,
]
