from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from reports.api.views import ReportListView, ReportView

# Same shape as every app's api/urls.py (a router, then plain views): routes, not logic.
router = SimpleRouter()

urlpatterns: list[URLPattern | URLResolver] = [
    *router.urls,
    path("", ReportListView.as_view(), name="report-list"),
    path("<str:name>/", ReportView.as_view(), name="report-detail"),
]
