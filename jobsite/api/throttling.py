"""Every request counter of jobsite, in one place (SPEC §6, §15).

- The per-key rate limit: a generous number of requests per window for each API key (or
  logged-in user, or client address when anonymous). Over it: 429 with `Retry-After`;
  every API answer carries `RateLimit-*` headers.
- Wrong credentials (API keys and trigger keys): counted per client address and per key
  prefix. Only a request that carries a WRONG key is ever refused for them (429 instead
  of 401/403), so an anonymous client guessing keys behind the same load balancer
  address never locks out a valid key.
- Login failures: per username and client address (`LoginFailures`, used by
  jobsite.accounts).

The counters live in Django's cache. The default cache is in the memory of each process
(so with two web processes each counts half); `JOBSITE_CACHE_URL=redis://…` makes every
process count against the same numbers (docs/deploy.md).
"""

import hashlib
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework import exceptions
from rest_framework.throttling import BaseThrottle

from jobsite.models import ApiKey

PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
# How much of a wrong key names its "prefix" for the per-prefix counter: the key format
# (jsk_/jtk_) and a few characters, so one guesser spreading over many addresses is
# counted once per prefix it tries, and a stray typo of a real key is not.
BAD_KEY_PREFIX_CHARS = 8


def parse_rate(rate: str) -> tuple[int, int]:
    """ "1200/minute" → (1200, 60). Fails loudly on anything else."""
    try:
        count, period = rate.split("/", 1)
        return int(count), PERIODS[period.strip().lower()]
    except (ValueError, KeyError, AttributeError):
        raise ValueError(f"bad rate {rate!r}: use N/second, N/minute, N/hour or N/day") from None


class FixedWindow:
    """A counter per identity and time window, kept in the cache.

    Fixed windows are cheap (one add + one incr) and good enough for "slow down"; the
    `RateLimit-Reset` header tells a client exactly when its window ends."""

    def __init__(self, scope: str, rate: str):
        self.scope = scope
        self.limit, self.period = parse_rate(rate)

    def _key(self, ident, now):
        window = int(now // self.period)
        return f"rl:{self.scope}:{ident}:{window}", (window + 1) * self.period - now

    def peek(self, ident: str) -> tuple[int, float]:
        key, reset = self._key(ident, time.time())
        return cache.get(key, 0), reset

    def hit(self, ident: str) -> tuple[int, float]:
        """Count one request. Returns (count, seconds until the window resets)."""
        key, reset = self._key(ident, time.time())
        # Every request but a window's first finds its counter: increment first, and
        # create the counter only when it is missing (one cache operation, not two).
        try:
            return cache.incr(key), reset
        except ValueError:
            pass
        if cache.add(key, 1, timeout=self.period + 1):
            return 1, reset
        try:
            return cache.incr(key), reset
        except ValueError:  # evicted between add and incr
            cache.set(key, 1, timeout=self.period + 1)
            return 1, reset


def client_address(request) -> str:
    return request.META.get("REMOTE_ADDR") or "unknown"


# --- wrong keys ----------------------------------------------------------------------------

TOO_MANY_WRONG_KEYS = "Too many requests with a wrong key; slow down."


def bad_key_window() -> FixedWindow:
    return FixedWindow("badkey", settings.JOBSITE_API_BAD_KEY_LIMIT)


def refuse_wrong_key(request, raw_key: str, refusal: exceptions.APIException) -> None:
    """A request carried a wrong key: count it, for its client address and for the key's
    prefix, and raise `refusal` (the 401/403 it deserves), or 429 with Retry-After once
    either counter is over the limit. Never called for a valid key, which therefore never
    sees a 429 of this limiter."""
    window = bad_key_window()
    by_address, reset = window.hit(f"addr:{client_address(request)}")
    # Hashed: the prefix is whatever the client sent, and a cache key must be short,
    # printable ASCII (memcached refuses anything else; Django warns on every backend).
    prefix = (raw_key or "")[:BAD_KEY_PREFIX_CHARS]
    digest = hashlib.sha256(prefix.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    by_prefix, prefix_reset = window.hit(f"prefix:{digest}")
    if by_address > window.limit:
        raise exceptions.Throttled(wait=reset, detail=TOO_MANY_WRONG_KEYS)
    if by_prefix > window.limit:
        raise exceptions.Throttled(wait=prefix_reset, detail=TOO_MANY_WRONG_KEYS)
    raise refusal


# --- the per-key rate limit ------------------------------------------------------------------


def caller_identity(request) -> str:
    if isinstance(request.auth, ApiKey):
        return key_identity(request.auth.pk)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.pk is not None:
        return f"user:{user.pk}"
    return f"addr:{client_address(request)}"


def key_identity(key_id) -> str:
    return f"key:{key_id}"


def count_request(request, identity: str) -> tuple[bool, float]:
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


def add_rate_limit_headers(request, response) -> None:
    """`RateLimit-*` (IETF draft) from what the throttle counted for this request."""
    state = getattr(request, "rate_limit", None)
    if state is None:
        return
    limit, remaining, reset, period = state
    response.headers["RateLimit-Limit"] = str(limit)
    response.headers["RateLimit-Remaining"] = str(max(0, remaining))
    response.headers["RateLimit-Reset"] = str(max(1, int(reset + 0.999)))
    response.headers["RateLimit-Policy"] = f"{limit};w={period}"


# --- login failures ------------------------------------------------------------------------


class LoginFailures:
    """Failed logins for one username from one client address (SPEC §15): after
    JOBSITE_LOGIN_FAILURE_LIMIT failures in JOBSITE_LOGIN_WINDOW_SECONDS, that client's
    attempts for that username are refused (429) — without checking the password, which
    is what makes a login expensive — until the window that began with the first failure
    passes. Other clients, and other usernames from this client, are unaffected."""

    def __init__(self, request, username: str):
        ident = f"{client_address(request)}:{username.strip().casefold()}"
        # Hash the username so the cache key is short and safe whatever was typed.
        digest = hashlib.sha256(ident.encode()).hexdigest()[:32]
        self.count_key = f"login:fail:{digest}"
        self.started_key = f"login:start:{digest}"
        self.limit = settings.JOBSITE_LOGIN_FAILURE_LIMIT
        self.window = settings.JOBSITE_LOGIN_WINDOW_SECONDS

    def seconds_refused(self) -> int:
        """0 when an attempt may be made, else the seconds until the window passes."""
        if cache.get(self.count_key, 0) < self.limit:
            return 0
        started = cache.get(self.started_key) or time.time()
        return max(1, int(started + self.window - time.time() + 0.999))

    def count(self) -> None:
        # The counter and its start share one timeout set at the first failure, so the
        # window is fixed from then on: failing again while refused does not extend it.
        now = time.time()
        cache.add(self.started_key, now, timeout=self.window)
        if cache.add(self.count_key, 1, timeout=self.window):
            return
        try:
            cache.incr(self.count_key)
        except ValueError:  # expired in between: a new window
            cache.set(self.started_key, now, timeout=self.window)
            cache.set(self.count_key, 1, timeout=self.window)

    def clear(self) -> None:
        cache.delete_many([self.count_key, self.started_key])
