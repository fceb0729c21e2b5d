#!/usr/bin/env python
"""Where the worker's CPU goes on a backlog of one-step `noop` jobs: the CPU (without and
under cProfile) and statements per job of the worker loop — `run_step` claims the first
queued step, runs it, and its finish claims the next queued job's step (eager dispatch),
until the backlog is empty — in this process, on a fresh SQLite database with the ORM
broker (the doorbells stay in the broker's table; no cluster runs).

    .venv/bin/python bench/worker_profile.py               # 500 jobs a pass, top 30
    .venv/bin/python bench/worker_profile.py --n 300 --top 40 --sort tottime
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

from bench.create_profile import setup  # noqa: E402


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
    args = parser.parse_args()
    os.environ.setdefault("JOBSITE_BROKER", "orm")
    fixtures = setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    backlog(fixtures, 5)
    drain()  # warm: first-use reads, imports, the heartbeat thread
    backlog(fixtures, 50)
    with CaptureQueriesContext(connection) as captured:
        ran = drain()
    assert ran == 50, ran
    per_job = (len(captured.captured_queries) - 3) / ran  # less drain()'s own reads
    backlog(fixtures, args.n)
    cpu = time.process_time()
    ran = drain()  # once without the profiler, which inflates call-heavy code
    bare = (time.process_time() - cpu) / ran * 1000
    assert ran == args.n, ran
    if args.no_profile:
        print(f"== worker: {ran} jobs, {bare:.2f} ms CPU a job, {per_job:.1f} statements a job")
        return
    backlog(fixtures, args.n)
    profiler = cProfile.Profile(time.process_time)
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
