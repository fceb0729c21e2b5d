"""Logging filters (settings.LOGGING).

Django logs a refused request (403 PermissionDenied, 404, a 400 from a suspicious
request) with the exception's traceback. A refusal is expected — a viewer opening an
admin page, a scanner probing a Host header — and a traceback per refusal buries the
errors that matter. These keep the one line and drop the traceback; a 5xx keeps its
traceback.
"""

import logging


class NoTracebackForRefusals(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if record.name.startswith("django.security") or (isinstance(status, int) and status < 500):
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
        return True
