"""The wrong-key counters are shared by every web process when a cache URL is set
(SPEC §15): another process's wrong keys count against the same address."""

import os
import secrets
import subprocess
import sys

import pytest
import redis
from django.test import override_settings

from tests.api.conftest import client_for

REDIS_URL = os.environ.get("JOBSITE_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")

# A second process, configured like a web process with JOBSITE_CACHE_URL, that receives
# wrong keys from one address (through the same function the API and trigger URL use).
OTHER_PROCESS = """
import sys, django
django.setup()
from django.test import RequestFactory
from rest_framework import exceptions
from jobsite.api.throttling import refuse_wrong_key
address, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
statuses = []
for i in range(count):
    request = RequestFactory().get("/api/v1/workspace/", REMOTE_ADDR=address)
    try:
        refuse_wrong_key(request, f"{prefix}{i}", exceptions.AuthenticationFailed())
    except exceptions.APIException as exc:
        statuses.append(exc.status_code)
print(" ".join(map(str, statuses)))
"""


def redis_reachable() -> bool:
    try:
        return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False


@pytest.mark.slow  # a second Django process; the counting itself: tests/api/test_auth.py
@pytest.mark.skipif(not redis_reachable(), reason=f"no Redis at {REDIS_URL}")
def test_two_processes_with_a_cache_url_count_wrong_keys_together(workspace, api_key):
    address = f"198.51.100.{secrets.randbelow(250) + 1}-{secrets.token_hex(4)}"
    prefix = "jsk_" + secrets.token_hex(2)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "jobsite.settings",
        "JOBSITE_CACHE_URL": REDIS_URL,
        "JOBSITE_API_BAD_KEY_LIMIT": "20/hour",
        "SECRET_KEY": "throttle-test-" + "x" * 40,
    }
    other = subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS, address, prefix, "15"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert other.returncode == 0, other.stderr
    assert other.stdout.split() == ["401"] * 15

    shared = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
    with override_settings(CACHES=shared, JOBSITE_API_BAD_KEY_LIMIT="20/hour"):
        here = [
            client_for(f"{prefix}x{i}", REMOTE_ADDR=address).get("/api/v1/workspace/").status_code
            for i in range(7)
        ]
        # 15 there + 5 here reach the limit of 20; the rest are refused.
        assert here == [401] * 5 + [429] * 2
        # A valid key from that address is still answered.
        assert (
            client_for(api_key(), REMOTE_ADDR=address).get("/api/v1/workspace/").status_code == 200
        )
