from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from nixflow.admin.links import admin_urls as link_admin_urls
from nixflow.api.auth import TokenLoginView
from nixflow.platform import health
from nixflow.views_language import language_choose
from reports.pages import report_urls
from sla.dashboard import dashboard_urls

api_patterns: list[URLPattern | URLResolver] = [
    path("auth/token/", TokenLoginView.as_view(), name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start script as a file: no inline script (CSP).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("", include("eventlog.api.urls")),
    path("", include("email_integration.api.urls")),
    path("", include("nixflow.api.urls")),
    path("", include("sla.api.urls")),
    path("", include("notifications.api.urls")),
    path("", include("macros.api.urls")),
    path("", include("csat.api.urls")),
    path("automation/", include("automation.api.urls")),
    path("", include("webhooks.api.urls")),
    path("", include("api_tokens.api.urls")),
    path("reports/", include("reports.api.urls")),
    path("forms/", include("forms_builder.api.urls")),
    path("knowledge/", include("knowledge.api.urls")),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", include(dashboard_urls())),
    path("admin/", include(report_urls())),
    path("admin/", include(link_admin_urls())),  # merge and link forms of the ticket page
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("forms/", include("forms_builder.urls")),
    path("help/", include("helpcenter.urls")),
    path("portal/", include("portal.urls")),
    path("sso/", include("sso.urls")),
    path("satisfaction/", include("csat.urls")),
    # The language chooser of the public pages (a cookie, and User.language when signed in).
    path("language/", language_choose, name="language"),
]

# A form over DATA_UPLOAD_MAX_MEMORY_SIZE gets a page that says so, not "Bad Request".
handler400 = "nixflow.security.bad_request"
