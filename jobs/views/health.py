"""Load-balancer probes (SPEC §12): /healthz says the process is up; /readyz that the
database and the broker answer and a worker host was seen recently."""

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from jobs.engine.queue import shared_broker
from jobs.executors.sandbox import sandbox_mode
from jobs.models import WorkerHost

WORKER_SEEN_SECONDS = 30


@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


def _check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_broker():
    return "ok" if shared_broker().ping() else "not answering"


def _check_workers():
    since = timezone.now() - timedelta(seconds=WORKER_SEEN_SECONDS)
    seen = WorkerHost.objects.filter(last_seen_at__gte=since).count()
    return "ok" if seen else f"no worker host seen in the last {WORKER_SEEN_SECONDS} s"


@require_GET
def readyz(request):
    checks = {}
    for name, check in (
        ("database", _check_database),
        ("broker", _check_broker),
        ("workers", _check_workers),
    ):
        try:
            checks[name] = check()
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            checks[name] = f"error: {exc.__class__.__name__}"
    ready = all(value == "ok" for value in checks.values())
    body = {
        "status": "ok" if ready else "unavailable",
        "checks": checks,
        "broker": settings.JOBSITE_BROKER,
        # Reported, not judged: a server may run without the sandbox on purpose (SPEC §13).
        "sandbox": sandbox_mode(),
    }
    return JsonResponse(body, status=200 if ready else 503)
