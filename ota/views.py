"""Project-level views."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: no database, no session. Also the trivial baseline of the benchmarks."""
    return JsonResponse({"status": "ok"})
