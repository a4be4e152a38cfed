"""Probes for load balancers and orchestrators: ``/healthz`` (liveness) and ``/readyz``.

``/readyz`` follows the schema guard: 503 with the errors while the database does not
match what this code needs; 200 otherwise, with the guard's warnings in ``warnings``
(the database ahead of the code during a rolling deploy, post-deploy migrations pending),
so a load balancer keeps the old release in service while the new one rolls out.
It also answers 503 when the storage of uploaded files cannot take them: the bucket
(STORAGE_URL) does not answer one HeadBucket within two seconds, or the media directory
on disk is not writable (``nixflow.platform.storage.readiness_problems``, cached as long).
"""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from nixflow.platform.schema_guard import cached_problems
from nixflow.platform.storage import readiness_problems


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches no database, so a database outage does
    not make an orchestrator restart healthy web processes."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database is reachable and has everything this code uses, and the
    storage of uploaded files takes them."""
    found = cached_problems()
    errors = [p.as_dict() for p in found if p.is_error] + readiness_problems()
    warnings = [p.as_dict() for p in found if not p.is_error]
    if errors:
        body: dict[str, object] = {"status": "unavailable", "problems": errors}
        if warnings:
            body["warnings"] = warnings
        return JsonResponse(body, status=503)
    if warnings:
        return JsonResponse({"status": "ready", "warnings": warnings})
    return JsonResponse({"status": "ready"})
