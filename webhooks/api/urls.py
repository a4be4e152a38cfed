from django.urls import URLPattern, URLResolver
from rest_framework.routers import SimpleRouter

from webhooks.api.views import EndpointViewSet

# Same shape as every app's api/urls.py (a router, then plain views): routes, not logic.
router = SimpleRouter()
router.register("webhooks", EndpointViewSet, basename="webhook")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
