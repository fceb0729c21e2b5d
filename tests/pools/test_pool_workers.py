"""Real worker hosts in pools (SPEC §14): `manage.py worker` with JOBSITE_POOLS starts
one django-q2 cluster per pool, each reading its pool's queue, on the ORM broker
(SQLite) and on Redis + PostgreSQL."""

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
ws, _ = Workspace.objects.get_or_create(slug="p", defaults={"name": "P"})
t = make_template(ws, '''
slug: train
name: Train
steps:
  - {id: build, type: sleep, with: {seconds: 0.05}}
  - {id: train, type: sleep, needs: [build], runs_on: gpu, with: {seconds: 0.05}}
  - {id: publish, type: noop, needs: [train]}
''')
for i in range(N):
    create_job(ws, template=t, name=f"train-{i}")
print("created")
"""

REPORT = """
from collections import Counter
from jobs.models import Job, StepRun
print(dict(Counter(Job.objects.values_list("status", flat=True))))
print(sorted({(s.step_id, s.pool, s.worker_id.split(":")[0]) for s in StepRun.objects.exclude(worker_id="")}))
print(sorted(set(StepRun.objects.exclude(waiting_reason="").values_list("step_id", "waiting_reason"))))
"""


def report(deploy):
    lines = deploy.manage("shell", "-c", REPORT).stdout.strip().splitlines()
    return eval(lines[-3]), eval(lines[-2]), eval(lines[-1])  # noqa: S307 - our own printed values


def brokers():
    yield pytest.param("orm", id="orm-sqlite")
    yield pytest.param(
        "redis", id="redis-postgres",
        marks=[pytest.mark.postgres, pytest.mark.skipif(not (PG and REDIS), reason="JOBSITE_TEST_DATABASE_URL / JOBSITE_TEST_REDIS_URL not set")],
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("broker", list(brokers()))
def test_gpu_steps_run_only_on_the_gpu_host_and_wait_for_one_when_none_is_alive(tmp_path, broker):
    url, name = fresh_postgres_url(PG) if broker == "redis" else (None, None)
    deploy = Deployment(
        tmp_path, database_url=url, broker=broker, redis_url=REDIS if broker == "redis" else None
    )
    try:
        deploy.manage("migrate", "--noinput", "-v", "0")
        deploy.env.update(JOBSITE_WORKER_ID="cpu-host", JOBSITE_POOLS="default")
        deploy.start("worker", log_name="cpu-host")
        deploy.env.update(JOBSITE_WORKER_ID="gpu-host", JOBSITE_POOLS="gpu")
        gpu = deploy.start("worker", "--no-dispatcher", log_name="gpu-host")
        deploy.manage("shell", "-c", "N = 10\n" + CREATE)
        assert deploy.wait_for(lambda: report(deploy)[0] == {"succeeded": 10}, timeout=90), report(
            deploy
        )
        _, placed, _ = report(deploy)
        assert placed == [
            ("build", "default", "cpu-host"),
            ("publish", "default", "cpu-host"),
            ("train", "gpu", "gpu-host"),
        ]

        # No gpu host: the train steps wait with the reason, the others run.
        deploy.kill(gpu)
        deploy.manage(
            "shell",
            "-c",
            "from jobs.models import WorkerHost; from django.utils import timezone; "
            "WorkerHost.objects.filter(host_id='gpu-host').update(last_seen_at=timezone.now() - timezone.timedelta(minutes=5))",
        )
        deploy.manage("shell", "-c", "N = 3\n" + CREATE)
        assert deploy.wait_for(
            lambda: report(deploy)[2] == [("train", "no worker in pool gpu")], timeout=60
        ), report(deploy)
        assert report(deploy)[0] == {"succeeded": 10, "running": 3}

        # A gpu host appears: they start, and every job finishes.
        started = time.monotonic()
        deploy.env.update(JOBSITE_WORKER_ID="gpu-host-2", JOBSITE_POOLS="gpu")
        deploy.start("worker", "--no-dispatcher", log_name="gpu-host-2")
        assert deploy.wait_for(lambda: report(deploy)[0] == {"succeeded": 13}, timeout=90), report(
            deploy
        )
        print(
            f"\npools ({broker}): the waiting gpu steps finished {time.monotonic() - started:.1f} s after a gpu host started"
        )
        statuses, placed, reasons = report(deploy)
        assert ("train", "gpu", "gpu-host-2") in placed and all(
            pool != "gpu" or host.startswith("gpu-host") for _, pool, host in placed
        )
        assert reasons == []
    finally:
        deploy.stop_all()
        if name:
            drop_postgres_database(PG, name)
