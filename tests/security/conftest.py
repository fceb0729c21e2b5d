import pytest
from django.core.cache import cache

from tests.api.conftest import admin_client, greet, operator_client  # noqa: F401 - shared fixtures


@pytest.fixture(autouse=True)
def fresh_counters():
    """Throttle counters live in the cache; each test starts with none."""
    cache.clear()
    yield
    cache.clear()
