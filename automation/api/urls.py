"""Automation rules: ``/api/automation/rules/`` and their dry runs."""

from django.urls import URLPattern, URLResolver
from rest_framework.routers import SimpleRouter

from automation.api.views import RuleViewSet

# Same shape as every app's api/urls.py (a router, then plain views): routes, not logic.
router = SimpleRouter()
router.register("rules", RuleViewSet, basename="automation-rule")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
