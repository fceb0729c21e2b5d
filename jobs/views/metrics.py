"""GET /metrics (SPEC §16): for a staff session, or `Authorization: Bearer
$JOBSITE_METRICS_TOKEN` (compared in constant time). Anyone else gets 401 with a
`WWW-Authenticate: Bearer` challenge (a logged-in non-staff user too): the path is
well known, so hiding it behind a 404 would protect nothing."""

import hmac

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from jobs.metrics import registry


def _token_ok(request) -> bool:
    expected = settings.JOBSITE_METRICS_TOKEN or ""
    header = request.headers.get("Authorization", "")
    if not expected or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer ") :].strip().encode(), expected.encode())


@never_cache
@require_GET
def metrics(request):
    user = getattr(request, "user", None)
    if not (_token_ok(request) or (user is not None and user.is_active and user.is_staff)):
        response = HttpResponse(
            "metrics: a staff session or the metrics token is needed\n",
            status=401,
            content_type="text/plain",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
