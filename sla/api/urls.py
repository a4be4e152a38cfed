from django.urls import path
from rest_framework.routers import SimpleRouter

from sla.api.summary import SLASummaryView
from sla.api.views import (
    BusinessCalendarViewSet,
    SLABreachViewSet,
    SLAMetricViewSet,
    SLAPolicyViewSet,
)

# Same shape as every app's api/urls.py (a router, then plain views): routes, not logic.
router = SimpleRouter()
router.register("sla/policies", SLAPolicyViewSet, basename="sla-policy")
router.register("sla/calendars", BusinessCalendarViewSet, basename="sla-calendar")
router.register("sla/metrics", SLAMetricViewSet, basename="sla-metric")
router.register("sla/breaches", SLABreachViewSet, basename="sla-breach")

urlpatterns = [
    path("sla/summary/", SLASummaryView.as_view(), name="sla-summary"),
    *router.urls,
]
