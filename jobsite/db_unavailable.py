"""While the database is away, answer 503 with a short message instead of a stack trace
(SPEC §7: the web app stays honest during an outage)."""

import logging

from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections
from django.http import JsonResponse

log = logging.getLogger(__name__)


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)) and not (
            isinstance(exception, DatabaseError) and "connection" in str(exception).lower()
        ):
            return None
        log.warning("database unavailable: %s", exception.__class__.__name__)
        close_old_connections()
        response = JsonResponse(
            {
                "detail": "The database is unavailable; try again shortly.",
                "code": "service_unavailable",
            },
            status=503,
        )
        response["Retry-After"] = "5"
        return response
