"""Per-key rate limiting (SPEC §6, issue 4): a generous, configurable number of requests
per window for each API key (or logged-in user, or client address when anonymous).
Over the limit: 429 with `Retry-After`; every answer carries `RateLimit-*` headers."""

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from jobsite.api.auth import FixedWindow, client_address
from jobsite.models import ApiKey


def caller_identity(request):
    if isinstance(request.auth, ApiKey):
        return key_identity(request.auth.pk)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.pk is not None:
        return f"user:{user.pk}"
    return f"addr:{client_address(request)}"


def key_identity(key_id):
    return f"key:{key_id}"


def count_request(request, identity):
    """Count one request of `identity` and leave what the `RateLimit-*` headers say on the
    request. Returns (within the limit?, seconds until the window resets)."""
    window = FixedWindow("api", settings.JOBSITE_API_RATE_LIMIT)
    count, reset = window.hit(identity)
    request.rate_limit = (window.limit, window.limit - count, reset, window.period)
    return count <= window.limit, reset


class ClientRateThrottle(BaseThrottle):
    def __init__(self):
        self.reset = 0

    def allow_request(self, request, view):
        allowed, self.reset = count_request(request, caller_identity(request))
        return allowed

    def wait(self):
        return self.reset
