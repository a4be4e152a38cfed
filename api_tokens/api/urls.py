from django.urls import URLPattern, URLResolver
from rest_framework.routers import SimpleRouter

from api_tokens.api.views import ApiTokenViewSet

# Same shape as every app's api/urls.py (a router, then plain views): routes, not logic.
router = SimpleRouter()
router.register("tokens", ApiTokenViewSet, basename="integration-token")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
