from tests.api.conftest import admin_client, greet, operator_client  # noqa: F401 - shared fixtures
