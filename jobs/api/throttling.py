"""Per-key rate limiting (SPEC §6, issue 4): a generous, configurable number of requests
per window for each API key (or logged-in user, or client address when anonymous).
Over the limit: 429 with `Retry-After`; every answer carries `RateLimit-*` headers."""

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from jobsite.api_auth import FixedWindow, client_address
from jobsite.models import ApiKey


def caller_identity(request):
    if isinstance(request.auth, ApiKey):
        return f"key:{request.auth.pk}"
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.pk is not None:
        return f"user:{user.pk}"
    return f"addr:{client_address(request)}"


class ClientRateThrottle(BaseThrottle):
    def __init__(self):
        self.window = FixedWindow("api", settings.JOBSITE_API_RATE_LIMIT)
        self.reset = 0

    def allow_request(self, request, view):
        count, self.reset = self.window.hit(caller_identity(request))
        request.rate_limit = (self.window.limit, self.window.limit - count, self.reset, self.window.period)
        return count <= self.window.limit

    def wait(self):
        return self.reset
