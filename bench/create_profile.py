#!/usr/bin/env python
"""Where the creation of a job goes: the CPU (without and under cProfile) and statements
per job of `create_job`, `POST jobs/` and `POST jobs/batch/`, in this process, on a fresh
SQLite database (no worker runs; the tasks stay queued).

    .venv/bin/python bench/create_profile.py              # 200 jobs each, top 25 functions
    .venv/bin/python bench/create_profile.py --n 500 --top 40 --only batch
    .venv/bin/python bench/create_profile.py --postgres postgres://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/create_profile.py --n 1000 --no-profile     # the bare figures only
"""

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BATCH_SIZE = 100


def setup(database_url=None):
    data = tempfile.mkdtemp(prefix="jobsite-create-profile-")
    os.environ.update(
        {
            "JOBSITE_DATA_DIR": data,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "JOBSITE_API_RATE_LIMIT": "100000000/minute",
        }
    )
    os.environ.pop("DATABASE_URL", None)
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)
    from bench.common import make_fixtures

    return make_fixtures()


def service(fixtures, n):
    from jobs.models import Trigger
    from jobs.services import create_job

    workspace, template = fixtures["workspace"], fixtures["templates"]["bench-noop"]
    for _ in range(n):
        create_job(workspace, template=template, name="profile", trigger=Trigger.CLI)


def client_for(fixtures):
    from django.test import Client

    return Client(HTTP_AUTHORIZATION=f"Bearer {fixtures['key']}")


def api(fixtures, n):
    client = client_for(fixtures)
    for _ in range(n):
        response = client.post(
            "/api/v1/jobs/", {"template": "bench-noop", "name": "profile"}, "application/json"
        )
        assert response.status_code == 201, response.content[:300]


def batch(fixtures, n):
    client = client_for(fixtures)
    for first in range(0, n, BATCH_SIZE):
        body = {
            "jobs": [{"template": "bench-noop", "name": "profile"}] * min(BATCH_SIZE, n - first)
        }
        response = client.post("/api/v1/jobs/batch/", body, "application/json")
        assert response.status_code == 201, response.content[:300]


def measure(name, action, fixtures, n, top, profile=True):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    action(fixtures, 2 if name != "batch" else 1)  # warm: first-use reads and imports
    with CaptureQueriesContext(connection) as captured:
        action(fixtures, min(n, 20) if name != "batch" else BATCH_SIZE)
    per_job = len(captured.captured_queries) / (min(n, 20) if name != "batch" else BATCH_SIZE)
    cpu, started = time.process_time(), time.perf_counter()
    action(fixtures, n)  # once without the profiler, which inflates call-heavy code
    bare = (time.process_time() - cpu) / n * 1000
    if not profile:
        wall = (time.perf_counter() - started) / n * 1000
        print(
            f"== {name}: {n} jobs, {bare:.3f} ms CPU a job, {per_job:.2f} statements a job, "
            f"{wall:.3f} ms wall"
        )
        return
    profiler = cProfile.Profile(time.process_time)
    started, cpu = time.perf_counter(), time.process_time()
    profiler.enable()
    action(fixtures, n)
    profiler.disable()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"== {name}: {n} jobs, {wall / n * 1000:.2f} ms wall and {cpu / n * 1000:.2f} ms CPU "
        f"a job under the profiler ({bare:.2f} ms CPU without it), {per_job:.1f} statements a job"
    )
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    print(out.getvalue())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--only", choices=["service", "api", "batch"])
    parser.add_argument("--no-profile", action="store_true", help="the CPU without cProfile only")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="profile on a new database of this PostgreSQL server (dropped afterwards)",
    )
    args = parser.parse_args()
    database_url = db_name = None
    if args.postgres:
        from bench.common import drop_fresh_database, fresh_postgres_url

        database_url, db_name = fresh_postgres_url(args.postgres)
    try:
        fixtures = setup(database_url)
        for name, action in (("service", service), ("api", api), ("batch", batch)):
            if args.only in (None, name):
                measure(name, action, fixtures, args.n, args.top, profile=not args.no_profile)
    finally:
        if db_name:
            drop_fresh_database(args.postgres, db_name)


if __name__ == "__main__":
    main()
