from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token

from nixflow import health
from sla.dashboard import dashboard_urls

api_patterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("", include("eventlog.api.urls")),
    path("", include("email_integration.api.urls")),
    path("", include("nixflow.api.urls")),
    path("", include("sla.api.urls")),
    path("forms/", include("forms_builder.api.urls")),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", include(dashboard_urls())),
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("forms/", include("forms_builder.urls")),
]
