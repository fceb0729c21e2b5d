"""Draining a worker host: running steps finish, no new ones start, the host exits."""

import signal
import time

import pytest

from jobs.worker.hosts import DRAIN_CHECK_SECONDS
from tests.worker_cluster import Deployment

SHELL = """
from jobs.models import Job
from jobs.services import create_job
from jobsite.models import Workspace
from tests.jobs.helpers import make_template
ws = Workspace.objects.get(slug="demo")
t = make_template(ws, '''
slug: drainable
name: Drainable
steps:
  - {id: work, type: sleep, with: {seconds: 3}}
''')
job = create_job(ws, template=t)
print(job.pk)
"""


@pytest.mark.slow
def test_a_draining_worker_finishes_its_running_step_takes_no_new_one_and_exits(tmp_path):
    deploy = Deployment(tmp_path, workers=1)
    deploy.env["JOBSITE_WORKER_ID"] = "host-a"
    deploy.manage("migrate", "--noinput", "-v", "0")
    deploy.manage("demo", "--password", "x")
    worker = deploy.start("worker", log_name="worker")
    first = deploy.manage("shell", "-c", SHELL).stdout.strip().splitlines()[-1]

    def status(job_id):
        out = deploy.manage(
            "shell",
            "-c",
            f"from jobs.models import Job; print(Job.objects.get(pk='{job_id}').status)",
        )
        return out.stdout.strip().splitlines()[-1]

    assert deploy.wait_for(lambda: status(first) == "running", timeout=30)
    running_since = time.monotonic()
    worker.send_signal(signal.SIGUSR1)  # the worker command itself leads its group

    def drain_seen():
        # Recorded on the host's row, and old enough that every worker process has
        # re-read it (each caches the answer for DRAIN_CHECK_SECONDS).
        out = deploy.manage(
            "shell",
            "-c",
            "from jobs.models import WorkerHost; print(WorkerHost.objects.filter(host_id='host-a', drain_requested_at__isnull=False).exists())",
        )
        return (
            out.stdout.strip().splitlines()[-1] == "True"
            and time.monotonic() - running_since > DRAIN_CHECK_SECONDS
        )

    assert deploy.wait_for(drain_seen, timeout=30)
    second = (
        deploy.manage("shell", "-c", SHELL.replace("slug: drainable", "slug: drainable2"))
        .stdout.strip()
        .splitlines()[-1]
    )
    assert deploy.wait_for(lambda: worker.poll() is not None, timeout=30), (
        "the drained worker did not exit"
    )
    assert worker.returncode == 0
    assert status(first) == "succeeded"
    assert status(second) == "queued"  # waits for another host; nothing was lost
    deploy.stop_all()
