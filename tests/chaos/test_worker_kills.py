"""Item 9a: worker hosts SIGKILLed at random moments while 200 jobs run (and restarted
after each kill), with a dispatcher on a host that survives.

Every kill must leave nothing of the host running; the steps it held must leave
`running` within lease + reaper interval + 5 s; in the end every job is finished, every
idempotent step succeeded with its side effect recorded exactly once, and every
non-idempotent step ran at most once — the ones a kill interrupted end `lost`, their job
`failed` with "worker lost"."""

import os
import random
import time
from collections import Counter

import pytest

from tests.chaos.conftest import DatabaseAway, Workload, needs_postgres_and_redis, print_figures

SEED = int(os.environ.get("JOBSITE_CHAOS_SEED", "20261122"))
JOBS = 200
KILLS_UNTIL = 80  # seconds after the start: no kill begins later
DEADLINE_SECONDS = 150  # every job finished by then (50-90 s on a quiet 2-core machine)

DEPLOYMENTS = [
    pytest.param("sqlite", "orm", id="sqlite-orm"),
    pytest.param(
        "postgres",
        "redis",
        id="postgres-redis",
        marks=[pytest.mark.postgres, needs_postgres_and_redis],
    ),
]


def status_counts(steps):
    return dict(Counter(step["status"] for step in steps))


class OrphanWatch:
    """After each kill: how long until no step is `running` on the dead host."""

    def __init__(self, db, bound):
        self.db, self.bound = db, bound
        self.pending = {}  # host → time of its kill
        self.released = {}  # host → seconds (None: still running past the bound)

    def add(self, host, killed_at):
        self.pending[host] = killed_at

    def check(self):
        now = time.monotonic()
        for host, killed_at in list(self.pending.items()):
            try:
                still = self.db.running_on(host)
            except DatabaseAway:
                return
            if not still:
                self.released[host] = round(now - killed_at, 1)
                del self.pending[host]
            elif now - killed_at > self.bound:
                self.released[host] = None
                del self.pending[host]

    def pause(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.check()
            time.sleep(min(0.1, max(0.0, end - time.monotonic())))


@pytest.mark.chaos
@pytest.mark.parametrize("database,broker", DEPLOYMENTS)
def test_killed_worker_hosts_lose_no_job_and_never_run_a_non_idempotent_step_twice(
    chaos_deployment, database, broker
):
    deploy = chaos_deployment(database=database, broker=broker, workers=8)
    db = deploy.db
    rng = random.Random(SEED)
    workload = Workload(deploy, jobs=JOBS, seed=SEED)
    bound = deploy.lease_seconds + deploy.dispatch_interval + 5
    watch = OrphanWatch(db, bound)
    planned_kills = rng.randint(5, 8)
    kills = []

    started = time.monotonic()
    # A dispatcher that is never killed, as on a second worker host: it reaps the dead
    # host's steps while that host restarts, beside each host's own dispatcher.
    deploy.start("dispatcher", log_name="dispatcher")
    host_proc, host = deploy.start_worker_host()
    creator = workload.start_creating()

    def all_done():
        if creator.poll():
            return True  # creating jobs failed: no point waiting
        return (
            creator.poll() == 0
            and db.scalar("SELECT COUNT(*) FROM jobs_job") == JOBS
            and db.unfinished_jobs() == 0
        )

    while len(kills) < planned_kills and time.monotonic() - started < KILLS_UNTIL:
        # Let the new host get busy, then kill it at a random moment of its work.
        busy_until = time.monotonic() + 20
        while not db.running_on(host) and time.monotonic() < busy_until and not all_done():
            watch.pause(0.1)
        if all_done():
            break
        watch.pause(rng.uniform(0.3, 3.0))
        survivors = deploy.kill_worker_host(host_proc)
        watch.add(host, time.monotonic())
        kills.append({"host": host, "survivors": survivors})
        host_proc, host = deploy.start_worker_host()
    last_restart = time.monotonic()

    while not all_done() and time.monotonic() - started < DEADLINE_SECONDS:
        watch.pause(0.2)
    drained = time.monotonic()
    while watch.pending:
        watch.pause(0.2)

    assert creator.wait(timeout=5) == 0, (deploy.data_dir / "create-jobs.log").read_text()[-3000:]
    statuses = db.job_statuses()
    steps = db.steps()
    record = [s for s in steps if s["step"] == "record"]
    charge = [s for s in steps if s["step"] == "charge"]
    record_effects, record_runs = (
        workload.lines("record.effects"),
        workload.lines("record.executions"),
    )
    charge_effects, charge_runs = (
        workload.lines("charge.effects"),
        workload.lines("charge.executions"),
    )
    lost = [s for s in steps if s["status"] == "lost"]
    killed_hosts = {kill["host"] for kill in kills}
    # A step lost although its host was never killed: a live worker whose lease ran out.
    lost_alive = [s for s in lost if s["worker"].split(":")[0] not in killed_hosts]
    interrupted = db.worker_losses()
    duplicates = sum(n - 1 for n in record_effects.values() if n > 1) + sum(
        n - 1 for n in charge_runs.values() if n > 1
    )
    released = [seconds for seconds in watch.released.values() if seconds is not None]
    print_figures(
        f"worker kills on {deploy.label} (seed {SEED})",
        {
            "jobs": f"{sum(statuses.values())} ({', '.join(f'{n} {k}' for k, n in sorted(workload.kinds.items()))})",
            "job statuses": dict(sorted(statuses.items())),
            "kills": len(kills),
            "attempts interrupted by the kills": interrupted,
            "lost (non-idempotent, not re-run)": len(lost),
            "lost on a host that was not killed": len(lost_alive),
            "idempotent steps retried": sum(1 for s in record if s["attempt"] > 1),
            "idempotent re-executions": sum(record_runs.values()) - len(record_runs),
            "duplicates": duplicates,
            "slowest release of a dead host's steps": f"{max(released, default=0)} s (bound {bound:g} s)",
            "time to drain after the last restart": f"{drained - last_restart:.1f} s",
            "total": f"{drained - started:.1f} s",
        },
    )

    assert len(kills) >= 5, f"only {len(kills)} kills happened: the workload ran out first"
    assert all(not kill["survivors"] for kill in kills), (
        f"a killed worker host left processes running: {kills}"
    )
    assert all(seconds is not None for seconds in watch.released.values()), (
        f"steps of a killed host were still `running` {bound:g} s after the kill: {watch.released}"
    )
    assert sum(statuses.values()) == JOBS
    assert db.unfinished_jobs() == 0, (
        f"unfinished jobs {DEADLINE_SECONDS} s after the start: {statuses}"
    )
    assert interrupted > 0, "no kill landed while a step was running"

    # At least once, exactly one effect: every idempotent step succeeded (re-run after a
    # lost worker when needed) and its guarded side effect is there once.
    assert {s["status"] for s in record} == {"succeeded"}, status_counts(record)
    assert all(record_effects[s["job"]] == 1 for s in record)
    assert duplicates == 0, (
        f"duplicated side effects: record {record_effects.most_common(3)}, charge {charge_runs.most_common(3)}"
    )

    # At most once: a non-idempotent step never ran twice; one a kill interrupted is
    # `lost` and fails its job with "worker lost" — it is never re-run on its own.
    assert all(charge_runs[s["job"]] <= 1 for s in charge)
    assert {s["status"] for s in charge} <= {"succeeded", "lost"}, status_counts(charge)
    for step in charge:
        if step["status"] == "succeeded":
            assert charge_effects[step["job"]] == 1 and step["job_status"] == "succeeded"
        else:
            assert step["attempt"] == 1 and step["error"] == "worker lost"
            assert step["job_status"] == "failed" and "worker lost" in step["job_error"], step
    failed_jobs = {s["job"] for s in steps if s["job_status"] == "failed"}
    assert failed_jobs == {s["job"] for s in lost}
    assert set(statuses) <= {"succeeded", "failed"}
