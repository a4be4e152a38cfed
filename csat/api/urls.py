from django.urls import URLPattern, URLResolver
from rest_framework.routers import SimpleRouter

from csat.api.views import RatingViewSet

# Same shape as every app's api/urls.py (a router, then plain views): routes, not logic.
router = SimpleRouter()
router.register("csat", RatingViewSet, basename="csat-rating")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
