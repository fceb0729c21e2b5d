#!/usr/bin/env python
"""Where the CPU of a job's creation goes without a profiler (which inflates this
call-heavy code several times): the functions of the create path wrapped with
process_time_ns timers, N jobs made by `create_job` (or `POST jobs/`, or `jobs/batch/`)
on a fresh database as in bench/create_profile.py. The sections nest, so they do not
add up; "statement" is Django's cursor.execute, the driver's work included.

    .venv/bin/python bench/create_sections.py                   # SQLite, 1000 jobs
    .venv/bin/python bench/create_sections.py --postgres postgres://postgres@127.0.0.1:5432/postgres
"""

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench.create_profile as create_profile  # noqa: E402

totals: dict[str, int] = defaultdict(int)
calls: dict[str, int] = defaultdict(int)


def timed(owner, name, label, key=None):
    """Wrap owner.name (a module's function or a class's method) with a timer; `key`
    splits the figure by an argument (the model of insert_instances)."""
    original = getattr(owner, name, None)
    if original is None:  # not in this tree (an older one)
        return

    def wrapper(*args, **kwargs):
        section = label + (f"[{key(*args, **kwargs)}]" if key else "")
        started = time.process_time_ns()
        try:
            return original(*args, **kwargs)
        finally:
            totals[section] += time.process_time_ns() - started
            calls[section] += 1

    setattr(owner, name, wrapper)


def wrap_sections():
    from django.db import transaction
    from django.db.backends import utils
    from django.db.models import Model

    import jobs.engine.events as events
    import jobs.engine.new_jobs as new_jobs
    import jobs.engine.queue as queue
    import jobs.engine.transitions as transitions
    import jobs.services as services

    by_model = lambda model, *args, **kwargs: model.__name__  # noqa: E731
    timed(services, "prepare_job", "prepare_job")
    timed(services, "_steps_for", "prepare_job: _steps_for")
    timed(services, "new_instance", "new_instance", by_model)
    timed(Model, "__init__", "Model.__init__", lambda self, *a, **k: type(self).__name__)
    timed(services, "save_new_jobs", "save_new_jobs (the transaction)")
    timed(transaction.Atomic, "__enter__", "BEGIN (atomic enter)")
    timed(transaction.Atomic, "__exit__", "COMMIT (atomic exit)")
    timed(new_jobs, "has_active_webhooks", "has_active_webhooks")
    timed(new_jobs, "insert_new_jobs", "insert_new_jobs")
    timed(transitions, "insert_instances", "insert_instances", by_model)
    timed(transitions, "insert_first_events", "insert_first_events")
    timed(events, "_insert_events", "_insert_events")
    timed(new_jobs, "enqueue_steps", "enqueue_steps")
    timed(queue, "_step_package", "enqueue_steps: signed task")
    timed(queue, "insert_instances", "insert_instances", by_model)
    timed(utils.CursorWrapper, "execute", "statement (cursor.execute)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--only", choices=["service", "api", "batch"], default="service")
    parser.add_argument("--postgres", metavar="URL", help="on a new database of this server")
    args = parser.parse_args()
    database_url = db_name = None
    if args.postgres:
        from bench.common import drop_fresh_database, fresh_postgres_url

        database_url, db_name = fresh_postgres_url(args.postgres)
    try:
        fixtures = create_profile.setup(database_url)
        action = getattr(create_profile, args.only)
        action(fixtures, create_profile.BATCH_SIZE if args.only == "batch" else 2)  # warm
        wrap_sections()
        cpu, before = time.process_time_ns(), os.times()
        action(fixtures, args.n)
        cpu, after = time.process_time_ns() - cpu, os.times()
        print(
            f"== {args.only}: {args.n} jobs, {cpu / args.n / 1000:.0f} µs CPU a job "
            f"(user {(after.user - before.user) / args.n * 1e6:.0f}, "
            f"system {(after.system - before.system) / args.n * 1e6:.0f}), "
            "with the timers"
        )
        for section, total in sorted(totals.items(), key=lambda item: -item[1]):
            print(f"  {section:40s} {total / args.n / 1000:7.1f} µs  ({calls[section] / args.n:.2f} calls)")  # fmt: skip
    finally:
        if db_name:
            drop_fresh_database(args.postgres, db_name)


if __name__ == "__main__":
    main()
