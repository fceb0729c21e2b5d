"""LOGGING for jobsite/settings.py: plain lines on the console, and an expected refusal
(4xx) one line in the log, never a traceback (jobsite/log_filters.py)."""


def logging_config(*, level: str, queue_level: str) -> dict:
    """Django's LOGGING dict: the root logger at `level`, django-q's at `queue_level`."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        # An expected refusal (4xx) is one line in the log, never a traceback.
        "filters": {
            "no_traceback_for_refusals": {"()": "jobsite.log_filters.NoTracebackForRefusals"}
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django-q": {"level": queue_level},
            "django.request": {"filters": ["no_traceback_for_refusals"]},
            # Django logs each suspicious request (a 400) to django.security.<its exception>;
            # a logger's filters do not apply to its children, so each is named.
            **{
                f"django.security.{name}": {"filters": ["no_traceback_for_refusals"]}
                for name in (
                    "DisallowedHost",
                    "DisallowedRedirect",
                    "SuspiciousOperation",
                    "SuspiciousFileOperation",
                    "SuspiciousMultipartForm",
                    "SuspiciousSession",
                    "RequestDataTooBig",
                    "TooManyFieldsSent",
                    "TooManyFilesSent",
                    "DisallowedModelAdminLookup",
                    "DisallowedModelAdminToField",
                    "csrf",
                )
            },
        },
    }
