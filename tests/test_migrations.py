"""The migrations on disk describe every model. `make test` builds its tables from the
models (pytest-django's --no-migrations: a second less per test process); the slow,
PostgreSQL and live-server suites build them by running the migrations."""

import io

from django.core.management import call_command


def test_the_migrations_describe_every_model(db, settings):
    settings.MIGRATION_MODULES = {}  # read them from disk, whatever the run's option
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit:
        raise AssertionError(f"a model changed without a migration:\n{out.getvalue()}") from None
