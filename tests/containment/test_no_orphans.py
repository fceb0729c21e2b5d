"""No orphans (issue 11, item 5): a step that starts `setsid nohup sleep … & disown`
leaves no process behind 5 s after it ends, is canceled, times out, or its worker's
process group is SIGKILLed. `setsid` leaves the step's process group, so only the
sandbox's PID namespace (and bwrap's --die-with-parent) can take it down."""

import os
import signal
import threading
import time

import pytest
from django.conf import settings

from jobs.services import cancel_job, create_job
from tests.conftest import run_queued_tasks
from tests.containment.steps import run_shell_step, shell_template
from tests.processes import live_processes_running, unique_sleep, wait_until_gone
from tests.worker_cluster import Deployment


def escaping_child(marker):
    # The pause lets the child leave the step's process group (setsid, then exec sleep)
    # before the step goes on: a step ending at once could take it down with its group
    # while it is still a member, and the test would prove nothing.
    return f"setsid nohup sleep {marker} > /dev/null 2>&1 & disown\nsleep 0.5\necho started\n"


def test_no_process_of_a_step_outlives_its_end(workspace, run_tasks):
    marker = unique_sleep()
    job, lines, _ = run_shell_step(workspace, run_tasks, escaping_child(marker))
    assert job.status == "succeeded"
    assert wait_until_gone(marker, within=5) == []


def test_no_process_of_a_step_outlives_its_timeout(workspace, run_tasks):
    marker = unique_sleep()
    job, lines, step = run_shell_step(
        workspace, run_tasks, escaping_child(marker) + "sleep 60", timeout=1
    )
    assert step.error == "timed out after 1 s"
    assert wait_until_gone(marker, within=5) == []


def test_no_process_of_a_step_outlives_a_cancel_and_the_cancel_takes_under_3_seconds(
    workspace, run_tasks
):
    marker = unique_sleep()
    job = create_job(
        workspace, template=shell_template(workspace, escaping_child(marker) + "sleep 60")
    )
    worker = threading.Thread(target=run_queued_tasks)
    worker.start()
    deadline = time.monotonic() + 10
    while not job.events.filter(message="started").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live_processes_running(marker), "the step's escaped child never started"
    requested = time.monotonic()
    cancel_job(job)
    while time.monotonic() - requested < 5:
        job.refresh_from_db()
        if job.is_terminal:
            break
        time.sleep(0.05)
    elapsed = time.monotonic() - requested
    worker.join(timeout=10)
    assert job.status == "canceled"
    assert elapsed < 3, f"canceled after {elapsed:.2f} s"
    assert wait_until_gone(marker, within=5) == []


CREATE_JOB = """
from jobs.services import create_job
from jobsite.models import Workspace
from tests.containment.steps import shell_template
workspace = Workspace.objects.create(slug="orphans", name="Orphans")
job = create_job(workspace, template=shell_template(workspace, '''{script}'''))
print(job.pk)
"""


@pytest.mark.slow
def test_no_process_of_a_step_outlives_a_sigkill_of_its_workers_process_group(tmp_path):
    marker = unique_sleep()
    deploy = Deployment(tmp_path, workers=1)
    deploy.env["JOBSITE_SANDBOX"] = settings.JOBSITE_SANDBOX
    deploy.manage("migrate", "--noinput", "-v", "0")
    worker = deploy.start("worker", log_name="worker")
    try:
        deploy.manage("shell", "-c", CREATE_JOB.format(script=escaping_child(marker) + "sleep 60"))
        assert deploy.wait_for(lambda: live_processes_running(marker), timeout=60), (
            "the step never started"
        )
        os.killpg(worker.pid, signal.SIGKILL)
        killed = time.monotonic()
        worker.wait(timeout=10)
        left = wait_until_gone(marker, within=5)
        print(f"\n[orphans] gone {time.monotonic() - killed:.2f} s after the SIGKILL")
        assert left == []
    finally:
        deploy.stop_all()
