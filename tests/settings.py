"""The test settings: jobsite's own, plus what only tests need. pytest points
DJANGO_SETTINGS_MODULE here (pyproject.toml), so jobsite/settings.py never asks whether
it runs under a test."""

import os

# Production refuses to start without a key; tests sign nothing that outlives them.
os.environ.setdefault("SECRET_KEY", "insecure-test-only-key-do-not-use-in-production")
# A fixed key: tests encrypt nothing that outlives them (tests/jobs/test_encryption_keys.py
# sets its own to rotate).
os.environ.setdefault("JOBSITE_ENCRYPTION_KEY", "dGVzdC1vbmx5LWtleS1kby1ub3QtdXNlLWl0LTAwMDA=")

from jobsite.settings import *  # noqa: E402,F403
from jobsite.settings import ALLOWED_HOSTS, STORAGES  # noqa: E402

# Django's test client sends Host: testserver.
ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]
# No collected static files in a checkout: serve them from the finders.
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Find a static file when it is asked for: otherwise whitenoise lists and stats every
# app's static files each time a test client loads the middleware (a fifth of the time
# of the page and API tests). tests/ui/test_pages.py checks the production serving.
WHITENOISE_AUTOREFRESH = True
# Many tests create users; the production hasher takes a noticeable time per password.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
