"""Probes for load balancers and orchestrators (SPEC section 7)."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from nixflow.platform.schema_guard import cached_problems


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches no database, so a database outage does
    not make an orchestrator restart healthy web processes."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database is reachable and its schema matches the code."""
    problems = cached_problems()
    if problems:
        return JsonResponse(
            {"status": "unavailable", "problems": [p.as_dict() for p in problems]}, status=503
        )
    return JsonResponse({"status": "ready"})
