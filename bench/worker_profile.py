#!/usr/bin/env python
"""Where the worker's CPU goes on a backlog of one-step `noop` jobs: the CPU (without and
under cProfile) and statements per job of the worker loop — `run_step` claims the first
queued step, runs it, and its finish claims the next queued job's step (eager dispatch),
until the backlog is empty — in this process, on a fresh SQLite database (or, with
--postgres, a new database on that server, dropped afterwards) with the ORM broker (the
doorbells stay in the broker's table; no cluster runs). Besides the CPU it prints the wall
time, the round trips (statements, BEGIN and COMMIT included, a COPY counted twice) and,
on PostgreSQL, the server backend's CPU, each a job.

    .venv/bin/python bench/worker_profile.py               # 500 jobs a pass, top 30
    .venv/bin/python bench/worker_profile.py --n 300 --top 40 --sort tottime
    .venv/bin/python bench/worker_profile.py --no-profile --postgres postgres://postgres@127.0.0.1:5432/postgres
    perf record -g -- .venv/bin/python -X perf bench/worker_profile.py --no-profile
"""

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import cpu_seconds_of  # noqa: E402
from bench.create_profile import setup  # noqa: E402


def round_trips(queries):
    """What the client waited for: each statement (BEGIN and COMMIT are logged too), a
    COPY twice (the COPY, then its data and end) — tests/perf/test_engine_queries.py."""
    return sum(2 if q["sql"].lstrip().upper().startswith("COPY") else 1 for q in queries)


def backlog(fixtures, n):
    from jobs.models import Trigger
    from jobs.services import create_job

    workspace, template = fixtures["workspace"], fixtures["templates"]["bench-noop"]
    for _ in range(n):
        create_job(workspace, template=template, name="profile", trigger=Trigger.CLI)


def drain():
    """Run the backlog as one doorbell does: claim the oldest queued step, then the eager
    chain. Returns the number of jobs run."""
    from jobs.engine.states import StepStatus
    from jobs.models import StepRun
    from jobs.worker.step_runner import run_step

    first = StepRun.objects.filter(status=StepStatus.QUEUED).order_by("queued_at", "pk").first()
    before = StepRun.objects.filter(status=StepStatus.SUCCEEDED).count()
    run_step(first.pk, first.attempt)
    return StepRun.objects.filter(status=StepStatus.SUCCEEDED).count() - before


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument(
        "--no-profile", action="store_true", help="the CPU without the profiler only (for perf)"
    )
    parser.add_argument(
        "--wall", action="store_true", help="profile by the wall clock (waits on the server)"
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="on a new database of this PostgreSQL server (dropped afterwards)",
    )
    args = parser.parse_args()
    os.environ.setdefault("JOBSITE_BROKER", "orm")
    database_url = db_name = None
    if args.postgres:
        from bench.common import drop_fresh_database, fresh_postgres_url

        database_url, db_name = fresh_postgres_url(args.postgres)
    try:
        profile(args, setup(database_url))
    finally:
        if db_name:
            drop_fresh_database(args.postgres, db_name)


def profile(args, fixtures):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    backlog(fixtures, 5)
    drain()  # warm: first-use reads, imports, the heartbeat thread
    backlog(fixtures, 50)
    with CaptureQueriesContext(connection) as captured:
        ran = drain()
    assert ran == 50, ran
    queries = captured.captured_queries[2:-1]  # less drain()'s own reads
    per_job = len(queries) / ran
    trips = round_trips(queries) / ran
    backlog(fixtures, args.n)
    pid = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
    server = cpu_seconds_of(pid) if pid else None
    cpu, started = time.process_time(), time.perf_counter()
    ran = drain()  # once without the profiler, which inflates call-heavy code
    bare = (time.process_time() - cpu) / ran * 1000
    wall = (time.perf_counter() - started) / ran * 1000
    if server is not None:
        server = (cpu_seconds_of(pid) - server) / ran * 1000
    assert ran == args.n, ran
    print(
        f"== worker ({connection.vendor}): {ran} jobs, {bare:.2f} ms CPU and {wall:.2f} ms wall "
        f"a job"
        + (f", server backend {server:.2f} ms CPU a job" if server is not None else "")
        + f"; {per_job:.1f} statements, {trips:.1f} round trips a job"
    )
    if args.no_profile:
        return
    backlog(fixtures, args.n)
    profiler = cProfile.Profile(time.perf_counter if args.wall else time.process_time)
    started, cpu = time.perf_counter(), time.process_time()
    profiler.enable()
    ran = drain()
    profiler.disable()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"== worker: {ran} jobs, {wall / ran * 1000:.2f} ms wall and {cpu / ran * 1000:.2f} ms "
        f"CPU a job under the profiler ({bare:.2f} ms CPU without it), "
        f"{per_job:.1f} statements a job"
    )
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
    print(out.getvalue())


if __name__ == "__main__":
    main()
