"""Item 9b: the Redis broker restarts with its data gone while 200 jobs run on
PostgreSQL. The tasks it held vanish with it; the dispatcher re-enqueues the queued steps
whose task vanished, so every job still finishes — none lost, none run twice."""

import os
import random
import time

import pytest

from tests.chaos.conftest import (
    REDIS,
    Workload,
    needs_postgres_and_redis,
    print_figures,
    redis_restarted_empty,
)

SEED = int(os.environ.get("JOBSITE_CHAOS_SEED", "20261122"))
JOBS = 200
DEADLINE_SECONDS = 100


@pytest.mark.chaos
@pytest.mark.postgres
@needs_postgres_and_redis
def test_a_redis_restart_that_loses_every_task_loses_no_job(chaos_deployment):
    deploy = chaos_deployment(database="postgres", broker="redis", workers=8)
    db = deploy.db
    rng = random.Random(SEED)
    # Non-idempotent steps only: a step whose worker was lost could not hide behind a retry.
    workload = Workload(deploy, jobs=JOBS, seed=SEED, kinds=("chaos-charge",))
    queue_key = f"django_q:{deploy.env['JOBSITE_QUEUE_NAME']}:q"

    started = time.monotonic()
    deploy.start_worker_host()
    # Jobs keep arriving (as API requests would) while Redis is away.
    creator = workload.start_creating(pace=0.03)

    # Restart while jobs are arriving and running: after a seeded number finished.
    restart_after = rng.randint(5, 30)
    assert deploy.wait_for(
        lambda: (
            db.scalar("SELECT COUNT(*) FROM jobs_job WHERE status = 'succeeded'") >= restart_after
        ),
        timeout=60,
    )
    import redis  # the `redis` extra: only the chaos suite on Redis needs the client here

    tasks_in_redis = redis.from_url(REDIS).llen(queue_key)
    created_before = db.scalar("SELECT COUNT(*) FROM jobs_job")
    queued_before = db.scalar("SELECT COUNT(*) FROM jobs_steprun WHERE status = 'queued'")
    restarted_at = time.monotonic()
    redis_restarted_empty(REDIS)
    back_at = time.monotonic()

    def all_done():
        if creator.poll():
            return True  # creating jobs failed: no point waiting
        return (
            creator.poll() == 0
            and db.scalar("SELECT COUNT(*) FROM jobs_job") == JOBS
            and db.unfinished_jobs() == 0
        )

    deploy.wait_for(
        all_done, timeout=max(1, DEADLINE_SECONDS - (time.monotonic() - started)), interval=0.2
    )
    drained = time.monotonic()

    creator_log = (deploy.data_dir / "create-jobs.log").read_text()
    statuses = db.job_statuses()
    steps = db.steps()
    runs, effects = workload.lines("charge.executions"), workload.lines("charge.effects")
    print_figures(
        f"Redis restarted empty on {deploy.label} (seed {SEED})",
        {
            "jobs": sum(statuses.values()),
            "job statuses": dict(sorted(statuses.items())),
            "restarted after": f"{restart_after} jobs succeeded, {created_before} created, {queued_before} steps queued",
            "tasks in Redis when it went away": tasks_in_redis,
            "Redis away for": f"{back_at - restarted_at:.1f} s",
            "lost": sum(1 for s in steps if s["status"] == "lost"),
            "duplicates": sum(n - 1 for n in runs.values() if n > 1),
            "time to drain after the restart": f"{drained - back_at:.1f} s",
            "total": f"{drained - started:.1f} s",
        },
    )

    assert creator.wait(timeout=5) == 0, (
        f"creating jobs failed during the restart:\n{creator_log[-3000:]}"
    )
    assert sum(statuses.values()) == JOBS
    assert statuses == {"succeeded": JOBS}, (
        f"not every job succeeded {DEADLINE_SECONDS} s after the start"
    )
    assert {s["status"] for s in steps} == {"succeeded"}
    assert all(runs[s["job"]] == 1 and effects[s["job"]] == 1 for s in steps), (
        "a step ran twice or not at all"
    )
