"""Several worker hosts, one PostgreSQL + Redis: both hosts take work, and when one is
killed mid-run every job still finishes. The steps are idempotent with retries left, so
the steps the dead host was running are retried on the other host and every job
succeeds (with `retries: 0` they would end `lost`, by design: docs/engine.md)."""

import os
import time

import pytest

from tests.worker_cluster import Deployment, drop_postgres_database, fresh_postgres_url

PG = os.environ.get("JOBSITE_TEST_DATABASE_URL")
REDIS = os.environ.get("JOBSITE_TEST_REDIS_URL")

CREATE = """
from jobs.services import create_job
from jobsite.models import Workspace
from tests.jobs.helpers import make_template
ws = Workspace.objects.get(slug="demo")
t = make_template(ws, '''
slug: spread
name: Spread
steps:
  - {id: a, type: sleep, retries: 2, retry_backoff: 0.5, with: {seconds: 0.2}}
  - {id: b, type: sleep, needs: [a], retries: 2, retry_backoff: 0.5, with: {seconds: 0.1}}
''')
for i in range(200):
    create_job(ws, template=t, name=f"spread-{i}")
print("created")
"""

REPORT = """
from collections import Counter
from jobs.models import Job, StepRun
print(dict(Counter(Job.objects.values_list("status", flat=True))))
print(dict(Counter(w.split(":")[0] for w in StepRun.objects.values_list("worker_id", flat=True) if w)))
"""


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.skipif(
    not (PG and REDIS), reason="JOBSITE_TEST_DATABASE_URL / JOBSITE_TEST_REDIS_URL not set"
)
def test_two_worker_hosts_share_the_work_and_survive_losing_one(tmp_path):
    url, name = fresh_postgres_url(PG)
    deploy = Deployment(tmp_path, database_url=url, broker="redis", redis_url=REDIS, workers=2)
    try:
        deploy.manage("migrate", "--noinput", "-v", "0")
        deploy.manage("demo", "--password", "x")
        hosts = {}
        for host in ("host-a", "host-b"):
            deploy.env["JOBSITE_WORKER_ID"] = host
            hosts[host] = deploy.start("worker", log_name=host)
        started = time.monotonic()
        deploy.manage("shell", "-c", CREATE)

        def statuses():
            lines = deploy.manage("shell", "-c", REPORT).stdout.strip().splitlines()
            return eval(lines[-2]), eval(lines[-1])  # noqa: S307 - our own printed dicts

        assert deploy.wait_for(lambda: statuses()[0].get("succeeded", 0) >= 40, timeout=120)
        deploy.kill(hosts["host-b"])
        killed_at = time.monotonic() - started
        assert deploy.wait_for(
            lambda: set(statuses()[0]) <= {"succeeded", "failed", "partial", "canceled"},
            timeout=180,
        )
        jobs, by_host = statuses()
        elapsed = time.monotonic() - started
        print(
            f"\nmulti-host: 200 jobs, host-b killed at {killed_at:.1f} s, all finished in {elapsed:.1f} s; jobs {jobs}; steps per host {by_host}"
        )
        assert jobs == {"succeeded": 200}
        assert by_host.get("host-a", 0) > 0 and by_host.get("host-b", 0) > 0
    finally:
        deploy.stop_all()
        drop_postgres_database(PG, name)
