"""End to end: migrate, load the demo, start a real worker host (`manage.py worker`: a
django-q2 cluster and the dispatcher) and run demo templates with `runjob --follow`.

Runs on the embedded default (SQLite + ORM broker) everywhere, and on PostgreSQL with
both brokers when JOBSITE_TEST_DATABASE_URL / JOBSITE_TEST_REDIS_URL are set."""

import os

import pytest

from tests.worker_cluster import Deployment, drop_postgres_database, fresh_postgres_url

PG = os.environ.get("JOBSITE_TEST_DATABASE_URL")
REDIS = os.environ.get("JOBSITE_TEST_REDIS_URL")

# Real worker subprocesses: `make test-slow` (and `make test-postgres`) run these.
pytestmark = pytest.mark.slow

DEPLOYMENTS = [
    pytest.param(("sqlite", "orm"), id="sqlite-orm"),
    pytest.param(
        ("postgres", "orm"),
        id="postgres-orm",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not PG, reason="JOBSITE_TEST_DATABASE_URL not set"),
        ],
    ),
    pytest.param(
        ("postgres", "redis"),
        id="postgres-redis",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(
                not (PG and REDIS),
                reason="JOBSITE_TEST_DATABASE_URL / JOBSITE_TEST_REDIS_URL not set",
            ),
        ],
    ),
]


@pytest.fixture
def deployment(request, tmp_path):
    database, broker = request.param
    db_name = None
    database_url = None
    if database == "postgres":
        database_url, db_name = fresh_postgres_url(PG)
    deploy = Deployment(
        tmp_path,
        database_url=database_url,
        broker=broker,
        redis_url=REDIS if broker == "redis" else None,
    )
    deploy.manage("migrate", "--noinput", "-v", "0")
    deploy.manage("demo", "--password", "demo-pass")
    yield deploy
    deploy.stop_all()
    if db_name:
        drop_postgres_database(PG, db_name)


@pytest.mark.parametrize("deployment", DEPLOYMENTS, indirect=True)
def test_demo_templates_run_to_their_end_on_a_real_worker_cluster(deployment):
    deployment.start("worker", log_name="worker")

    export = deployment.manage(
        "runjob",
        "orders-export",
        "--var",
        "days=5",
        "--var",
        "region=us",
        "--follow",
        "--timeout",
        "90",
        check=False,
    )
    assert export.returncode == 0, export.stdout + export.stderr
    assert "succeeded" in export.stdout
    assert "| 5 | 5 |" in export.stdout  # the report rendered the upstream outputs
    assert "demo-token-123" not in export.stdout  # the secret default is masked in the log
    assert "token ***" in export.stdout

    maintenance = deployment.manage(
        "runjob",
        "nightly-maintenance",
        "--var",
        "pause_seconds=0.5",
        "--follow",
        "--timeout",
        "90",
        check=False,
    )
    # A partial job is not a success: runjob exits non-zero and says why.
    assert maintenance.returncode == 1
    assert "partial" in maintenance.stdout
    assert "ERROR: [cleanup_scratch] scratch volume is busy" in maintenance.stdout


def test_runjob_explains_bad_variables_and_creates_nothing(tmp_path):
    deploy = Deployment(tmp_path)
    deploy.manage("migrate", "--noinput", "-v", "0")
    deploy.manage("demo", "--password", "demo-pass")
    result = deploy.manage(
        "runjob", "orders-export", "--var", "days=zero", "--var", "colour=red", check=False
    )
    assert result.returncode != 0
    assert "variables.days" in result.stderr and "integer" in result.stderr
    assert "variables.colour" in result.stderr and "unknown" in result.stderr
    count = deploy.manage("shell", "-c", "from jobs.models import Job; print(Job.objects.count())")
    assert count.stdout.strip().splitlines()[-1] == "0"
