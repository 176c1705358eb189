"""Project-level views: liveness and readiness."""

import logging
import uuid

from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: no database, no session. Also the trivial baseline of the benchmarks."""
    return JsonResponse({"status": "ok"})


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _cache() -> None:
    key, value = f"readyz:{uuid.uuid4().hex}", "ok"
    cache.set(key, value, timeout=10)
    if cache.get(key) != value:
        raise RuntimeError("the cache did not keep a value")
    cache.delete(key)


def _storage() -> None:
    from signing.storage import bundle_storage

    store = bundle_storage()
    name = store.save(f"readyz/{uuid.uuid4().hex}", ContentFile(b"ok"))
    store.delete(name)


CHECKS = {"database": _database, "cache": _cache, "storage": _storage}


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database answers, the cache keeps a value, bundle storage takes a
    write. 503 names what is down (the kind of error only: no addresses or credentials)."""
    checks = {}
    for name, check in CHECKS.items():
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:
            logger.warning("readyz: %s is down: %r", name, exc)
            checks[name] = f"down ({type(exc).__name__})"
    ready = all(state == "ok" for state in checks.values())
    response = JsonResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status=200 if ready else 503,
    )
    if not ready:
        response["Retry-After"] = "10"
    return response
