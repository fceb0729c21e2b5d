"""Restart without loss (SPEC §13, issue 11 item 6): SIGTERM to `serve` or `worker`
drains. Running steps get JOBSITE_STOP_GRACE_SECONDS to finish, no new step is claimed,
and a step longer than the grace meets the usual fault rules after the restart.

Real processes on 127.0.0.1; the test reads the deployment's database with plain SQL.
"""

import os
import signal
import time

import pytest

from tests.chaos.conftest import PG, DatabaseView, free_port, job_key
from tests.worker_cluster import Deployment, drop_postgres_database, fresh_postgres_url

CREATE_JOB = """
from jobs.services import create_job
from jobsite.models import Workspace
from tests.jobs.helpers import make_template
ws = Workspace.objects.get(slug="demo")
t = make_template(ws, '''
slug: charge-{seconds}
name: Charge
steps:
  - id: charge
    type: shell
    idempotent: false
    with:
      script: |
        echo "charging the customer"
        sleep {seconds}
        echo "charged=yes" >> "$JOBSITE_OUTPUT"
''')
print(create_job(ws, template=t).pk)
"""

TERMINAL = ("succeeded", "failed", "partial", "canceled")


@pytest.fixture(params=["sqlite", "postgres"])
def deployment(request, tmp_path):
    database_url = pg_name = None
    if request.param == "postgres":
        if not PG:
            pytest.skip("JOBSITE_TEST_DATABASE_URL not set")
        database_url, pg_name = fresh_postgres_url(PG, prefix="jobsite_restart_")
    deploy = Deployment(tmp_path, database_url=database_url, workers=1)
    deploy.env.update(
        {"JOBSITE_WORKER_ID": f"restart-{os.getpid()}", "JOBSITE_DISPATCH_INTERVAL": "0.5"}
    )
    deploy.manage("migrate", "--noinput", "-v", "0")
    deploy.manage("demo", "--password", "x")
    yield deploy
    deploy.stop_all()
    if pg_name:
        drop_postgres_database(PG, pg_name)


class Clock:
    def __init__(self):
        self.start = time.monotonic()
        self.marks = []

    def mark(self, what):
        self.marks.append((round(time.monotonic() - self.start, 1), what))

    def __str__(self):
        return "; ".join(f"t={at} s {what}" for at, what in self.marks)


def step_row(db, job):
    return db.rows(
        f"SELECT status, attempt, error FROM jobs_steprun WHERE job_id = '{job_key(job)}'"
    )[0]


def job_status(db, job):
    return db.scalar(f"SELECT status FROM jobs_job WHERE id = '{job_key(job)}'")


def executions(db, job):
    """How many times the step's script started: its first log line, once per run."""
    return db.scalar(
        f"SELECT COUNT(*) FROM jobs_jobevent WHERE job_id = '{job_key(job)}' AND kind = 'log'"
        " AND message LIKE '%charging the customer%'"
    )


def start(deploy, command, name):
    if command == "serve":
        return deploy.start(
            "serve", "--bind", f"127.0.0.1:{free_port()}", "--web-workers", "1", log_name=name
        )
    return deploy.start("worker", log_name=name)


def create_job(deploy, seconds):
    return (
        deploy.manage("shell", "-c", CREATE_JOB.format(seconds=seconds))
        .stdout.strip()
        .splitlines()[-1]
    )


def run_and_sigterm(deploy, seconds, clock, command="serve", also_queue=()):
    """Create a job whose one non-idempotent step sleeps `seconds` (and jobs of the
    `also_queue` durations after it), start `command`, SIGTERM the serving process group
    1 s after the step started; return (job id, the other jobs' ids, db)."""
    db = DatabaseView(deploy)
    job = create_job(deploy, seconds)
    others = [create_job(deploy, other) for other in also_queue]
    first = start(deploy, command, f"{command}-1")
    log = deploy.data_dir / f"{command}-1.log"
    assert deploy.wait_for(lambda: step_row(db, job)[0] == "running", timeout=60), log.read_text()
    clock.mark("step running")
    time.sleep(1)
    os.killpg(first.pid, signal.SIGTERM)
    clock.mark(f"SIGTERM to {command}'s process group")
    first.wait(timeout=120)
    clock.mark(f"{command} exited ({first.returncode})")
    return job, others, db


@pytest.mark.slow
@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_restart_during_a_20_s_non_idempotent_step_loses_nothing_and_runs_it_once(
    deployment, command
):
    if command == "worker" and deployment.env.get("DATABASE_URL"):
        pytest.skip("the worker variant runs on SQLite only (the serve one covers PostgreSQL)")
    clock = Clock()
    # A second job queued behind the first: with one worker busy, django-q2 has already
    # fetched its task when the SIGTERM comes, so only the drain keeps it from being
    # claimed during the grace.
    job, (later,), db = run_and_sigterm(deployment, 20, clock, command, also_queue=(2,))
    at_exit = (job_status(db, job), step_row(db, job), step_row(db, later))
    second = start(deployment, command, f"{command}-2")
    clock.mark(f"{command} started again")
    assert deployment.wait_for(
        lambda: job_status(db, job) in TERMINAL and job_status(db, later) in TERMINAL, timeout=90
    )
    clock.mark(f"jobs {job_status(db, job)} and {job_status(db, later)}")
    print(
        f"\n[restart {command}] {clock}; at exit: {at_exit}; "
        f"attempts={step_row(db, job)[1]}, executions={executions(db, job)}"
    )
    assert job_status(db, job) == "succeeded", "\n".join(db.timeline(job))
    assert step_row(db, job) == ("succeeded", 1, "")
    assert executions(db, job) == 1
    # The step finished inside the grace, before the process exited; the second job was
    # not started during the drain and ran after the restart.
    assert at_exit[0] == "succeeded"
    assert at_exit[2][0] == "queued"
    assert job_status(db, later) == "succeeded"
    assert second.poll() is None


@pytest.mark.slow
def test_a_step_longer_than_the_grace_meets_the_usual_fault_rules_after_the_restart(deployment):
    deployment.env["JOBSITE_STOP_GRACE_SECONDS"] = "3"
    clock = Clock()
    job, _, db = run_and_sigterm(deployment, 30, clock)
    stopped_after = clock.marks[-1][0] - clock.marks[-2][0]
    start(deployment, "serve", "serve-2")
    clock.mark("serve started again")
    assert deployment.wait_for(lambda: job_status(db, job) in TERMINAL, timeout=60), "\n".join(
        db.timeline(job)
    )
    clock.mark(f"job {job_status(db, job)}")
    print(f"\n[restart, grace 3 s] {clock}; step: {step_row(db, job)}")
    assert stopped_after < 3 + 8, f"serve took {stopped_after} s to stop with a 3 s grace"
    # Not idempotent, so not run again: lost with its worker, and the job failed.
    assert step_row(db, job)[:2] == ("lost", 1)
    assert job_status(db, job) == "failed"
    assert executions(db, job) == 1
