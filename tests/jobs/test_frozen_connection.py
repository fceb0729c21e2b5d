"""A worker frozen in the middle of a transaction (its host cut off from PostgreSQL after
its finish locked the job, before its COMMIT arrived) must not keep the reaper from taking
the step back: PostgreSQL ends the idle session (jobsite/database_url.py), its lock goes,
and its late COMMIT can never land. PostgreSQL only; SQLite has one host by design."""

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

from jobs.engine.faults import reap_expired_leases
from jobs.engine.steps import claim_step
from jobs.models import Job, StepRun
from jobs.services import create_job
from tests.jobs.helpers import make_template

psycopg = pytest.importorskip("psycopg")


def reap_in_a_thread() -> int:
    try:
        return reap_expired_leases()
    finally:
        connections.close_all()


@pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"), reason="PostgreSQL only"
)
def test_a_worker_frozen_holding_its_jobs_lock_does_not_stop_the_reaper(
    workspace, transactional_db
):
    template = make_template(
        workspace, "slug: frozen\nname: Frozen\nsteps:\n  - {id: s, type: noop}\n"
    )
    job = create_job(workspace, template=template)
    step = job.steps.get()
    assert claim_step(step.pk, step.attempt, "h2:1") is not None
    StepRun.objects.filter(pk=step.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )

    # The frozen worker: a connection made as the project makes them, which locked the
    # job as a finish does and then hears nothing more from its client.
    params = {
        k: v for k, v in connection.get_connection_params().items() if isinstance(v, str | int)
    }
    frozen = psycopg.connect(**params)
    pool = ThreadPoolExecutor(1)
    try:
        frozen.execute(f"SELECT id FROM {Job._meta.db_table} WHERE id = %s FOR UPDATE", [job.pk])
        started = time.monotonic()
        reaped = pool.submit(reap_in_a_thread).result(
            timeout=settings.JOBSITE_DB_IDLE_TRANSACTION_SECONDS + 15
        )
        waited = time.monotonic() - started
        assert reaped == 1
        assert StepRun.objects.get(pk=step.pk).status == "lost"
        assert (
            waited >= settings.JOBSITE_DB_IDLE_TRANSACTION_SECONDS - 0.5
        )  # it did wait for the lock, then got it
        # The frozen worker's late write never lands: its session is gone.
        with pytest.raises(psycopg.Error, match="idle-in-transaction"):
            frozen.execute(
                f"UPDATE {StepRun._meta.db_table} SET status = 'succeeded' WHERE id = %s", [step.pk]
            )
            frozen.commit()
        assert StepRun.objects.get(pk=step.pk).status == "lost"
    finally:
        frozen.close()  # without the timeout, this is what lets the reaper go on
        pool.shutdown()
