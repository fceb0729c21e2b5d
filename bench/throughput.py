#!/usr/bin/env python
"""(a) Throughput: N one-step `noop` jobs, created through `POST /api/v1/jobs/` and
through the service layer (`create_job`) and run to completion, against N raw
django-q2 no-op tasks on the same broker and database. Target: ≥ 0.5 of raw.

For each configuration (SQLite + ORM broker, PostgreSQL + Redis), in one process and
one database, each round runs side by side:

- raw: `manage.py qcluster` (jobsite's own Q_CLUSTER settings) runs N `bench.tasks.mark`
  tasks enqueued with `async_task`; time = first enqueue → last task started;
- service: `manage.py worker` (the same cluster plus jobsite's dispatcher) runs N jobs
  made one after another with `create_job(start=True)`; time = first create → last
  `finished_at`;
- api: the same, the jobs POSTed by 4 keep-alive clients to gunicorn (`serve`'s
  settings: 2 workers × 4 threads);
- batch: the same, POSTed to `jobs/batch/` 100 jobs a call by one keep-alive client;
- backlog: the worker side alone — N jobs created with no worker running, then
  `manage.py worker` started; time = first step started → last job finished. The
  service figure is bounded by the rate `create_job` runs at in one process (printed as
  "service created /s"); this one is what the workers sustain.

Every process is started warm (one task or job run first) and stopped afterwards.

    .venv/bin/python bench/throughput.py             # N=1000, 3 rounds, both configs
    .venv/bin/python bench/throughput.py --quick     # N=150, 1 round (make bench)
"""

import argparse
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    RAW_TASK,
    ApiClient,
    Bench,
    emit_result,
    fmt,
    make_fixtures,
    markdown_table,
    median,
    run_configs,
    save_results,
    wait_until,
)

API_CLIENTS = 4


def measure_raw(bench, n, tag, *, shared_broker=True):
    """N raw tasks. With `shared_broker` (the comparator) every async_task() reuses one
    broker, as jobsite does (jobs/engine/queue.py); without it each call builds its own, which
    is django-q2's default and, with Redis, a new connection per task."""
    from django_q.brokers import get_broker
    from django_q.tasks import async_task

    options = {"broker": get_broker()} if shared_broker else {}
    cluster = bench.start("qcluster")
    try:
        bench.reset_marks()
        async_task(RAW_TASK, "warm", **options)
        if not wait_until(lambda: bench.mark_count() >= 1, timeout=60):
            raise RuntimeError("the raw cluster did not run its warm-up task within 60 s")
        bench.reset_marks()
        started = time.time()
        for i in range(n):
            async_task(RAW_TASK, f"{tag}-{i}", **options)
        enqueued = time.time() - started
        if not wait_until(lambda: bench.mark_count() >= n, timeout=max(60, n * 0.2), interval=0.1):
            raise RuntimeError(f"raw: only {bench.mark_count()} of {n} tasks ran")
        elapsed = max(bench.read_marks().values()) - started
    finally:
        bench.stop(cluster)
    return {"per_second": n / elapsed, "seconds": elapsed, "enqueue_per_second": n / enqueued}


def wait_for_jobs(workspace, name, n):
    from django.db.models import Max

    from jobs.models import Job

    jobs = Job.objects.filter(workspace=workspace, name=name)
    if not wait_until(
        lambda: jobs.filter(finished_at__isnull=False).count() >= n,
        timeout=max(60, n * 0.3),
        interval=0.25,
    ):
        raise RuntimeError(
            f"{name}: only {jobs.filter(finished_at__isnull=False).count()} of {n} jobs finished"
        )
    statuses = Counter(jobs.values_list("status", flat=True))
    if statuses != {"succeeded": n}:
        raise RuntimeError(f"{name}: unexpected statuses {dict(statuses)}")
    return jobs.aggregate(end=Max("finished_at"))["end"].timestamp()


def run_service(fixtures, n, name):
    from jobs.models import Trigger
    from jobs.services import create_job

    workspace, template = fixtures["workspace"], fixtures["templates"]["bench-noop"]
    started = time.time()
    for _ in range(n):
        create_job(workspace, template=template, name=name, trigger=Trigger.CLI, created_by="bench")
    created = time.time() - started
    end = wait_for_jobs(workspace, name, n)
    return {
        "per_second": n / (end - started),
        "seconds": end - started,
        "create_per_second": n / created,
    }


def run_api(fixtures, base, n, name):
    errors = []

    def client(count):
        api = ApiClient(base, fixtures["key"])
        try:
            for _ in range(count):
                status, body = api.request(
                    "POST", "/api/v1/jobs/", {"template": "bench-noop", "name": name}
                )
                if status != 201:
                    errors.append((status, body[:200]))
                    return
        finally:
            api.close()

    shares = [n // API_CLIENTS + (1 if i < n % API_CLIENTS else 0) for i in range(API_CLIENTS)]
    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    started = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    created = time.time() - started
    if errors:
        raise RuntimeError(f"POST /api/v1/jobs/ failed: {errors[0]}")
    end = wait_for_jobs(fixtures["workspace"], name, n)
    return {
        "per_second": n / (end - started),
        "seconds": end - started,
        "create_per_second": n / created,
    }


BATCH_SIZE = 100


def run_batch(fixtures, base, n, name):
    """N jobs POSTed to jobs/batch/, BATCH_SIZE per call, by one keep-alive client."""
    api = ApiClient(base, fixtures["key"])
    started = time.time()
    try:
        for first in range(0, n, BATCH_SIZE):
            body = {"jobs": [{"template": "bench-noop", "name": name}] * min(BATCH_SIZE, n - first)}
            status, answer = api.request("POST", "/api/v1/jobs/batch/", body)
            if status != 201:
                raise RuntimeError(f"POST /api/v1/jobs/batch/ answered {status}: {answer[:200]}")
    finally:
        api.close()
    created = time.time() - started
    end = wait_for_jobs(fixtures["workspace"], name, n)
    return {
        "per_second": n / (end - started),
        "seconds": end - started,
        "create_per_second": n / created,
    }


def run_backlog(bench, fixtures, n, name):
    """The worker side alone: N jobs created while no worker runs, then `manage.py
    worker` started; time = the first step's `started_at` → the last `finished_at`. What
    the workers sustain when creating is not what limits them."""
    from django.db.models import Min

    from jobs.models import StepRun, Trigger
    from jobs.services import create_job

    workspace, template = fixtures["workspace"], fixtures["templates"]["bench-noop"]
    for _ in range(n):
        create_job(workspace, template=template, name=name, trigger=Trigger.CLI, created_by="bench")
    worker = bench.start("worker", log_name="worker-backlog")
    try:
        end = wait_for_jobs(workspace, name, n)
    finally:
        bench.stop(worker)
    first = StepRun.objects.filter(job__workspace=workspace, job__name=name).aggregate(
        start=Min("started_at")
    )["start"]
    seconds = end - first.timestamp()
    return {"per_second": n / seconds, "seconds": seconds}


def measure_jobsite(bench, fixtures, base, n, tag):
    from jobs.models import Trigger
    from jobs.services import create_job

    worker = bench.start("worker")
    try:
        create_job(
            fixtures["workspace"],
            template=fixtures["templates"]["bench-noop"],
            name=f"warm-{tag}",
            trigger=Trigger.CLI,
        )
        wait_for_jobs(fixtures["workspace"], f"warm-{tag}", 1)
        service = run_service(fixtures, n, f"service-{tag}")
        api = run_api(fixtures, base, n, f"api-{tag}")
        batch = run_batch(fixtures, base, n, f"batch-{tag}")
    finally:
        bench.stop(worker)
    backlog = run_backlog(bench, fixtures, n, f"backlog-{tag}")
    return service, api, batch, backlog


def set_async_commit(db_name):
    """synchronous_commit = off for the bench database: how much of the gap is the disk's
    fsync on each commit (the raw task with Redis commits nothing)."""
    import psycopg

    from bench.common import PG_URL

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{db_name}" SET synchronous_commit = off')


def run_one(args):
    with Bench(args.config) as bench:
        if args.async_commit and bench.db_name:
            set_async_commit(bench.db_name)
        bench.migrate()
        bench.setup_django()
        fixtures = make_fixtures()
        _, base = bench.start_gunicorn()
        rounds = []
        for r in range(args.rounds):
            raw = measure_raw(bench, args.n, f"r{r}")
            raw_default = measure_raw(bench, args.n, f"d{r}", shared_broker=False)
            service, api, batch, backlog = measure_jobsite(bench, fixtures, base, args.n, f"r{r}")
            row = {
                "backlog": backlog,
                "backlog_ratio": backlog["per_second"] / raw["per_second"],
                "raw": raw,
                "raw_default": raw_default,
                "service": service,
                "api": api,
                "batch": batch,
                "service_ratio": service["per_second"] / raw["per_second"],
                "api_ratio": api["per_second"] / raw["per_second"],
                "batch_ratio": batch["per_second"] / raw["per_second"],
            }
            rounds.append(row)
            print(
                f"round {r + 1}: raw {raw['per_second']:.0f}/s (default async_task {raw_default['per_second']:.0f}/s), service {service['per_second']:.0f}/s "
                f"({row['service_ratio']:.2f}), api {api['per_second']:.0f}/s ({row['api_ratio']:.2f}), "
                f"batch {batch['per_second']:.0f}/s ({row['batch_ratio']:.2f}; created {batch['create_per_second']:.0f}/s); "
                f"service created {service['create_per_second']:.0f}/s; "
                f"backlog run by the workers alone {backlog['per_second']:.0f}/s ({row['backlog_ratio']:.2f})",
                flush=True,
            )
        emit_result({"n": args.n, "rounds": rounds})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="N=150, 1 round")
    parser.add_argument("--configs", default="sqlite-orm,pg-redis")
    parser.add_argument(
        "--async-commit",
        action="store_true",
        help="PostgreSQL configs: synchronous_commit=off for the bench database (shows what fsync costs)",
    )
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.n, args.rounds = 150, 1
    if args.config:
        return run_one(args)

    forwarded = ["--n", str(args.n), "--rounds", str(args.rounds)] + (
        ["--async-commit"] if args.async_commit else []
    )
    results = run_configs(__file__, args.configs.split(","), forwarded)
    rows = []
    for config, result in results.items():
        rounds = result["rounds"]
        rows.append(
            [
                config,
                result["n"],
                fmt(median([r["raw"]["per_second"] for r in rounds]), 0),
                fmt(median([r["raw_default"]["per_second"] for r in rounds]), 0),
                fmt(median([r["service"]["per_second"] for r in rounds]), 0),
                fmt(median([r["api"]["per_second"] for r in rounds]), 0),
                fmt(median([r["service_ratio"] for r in rounds])),
                fmt(median([r["api_ratio"] for r in rounds])),
                fmt(median([r["batch"]["per_second"] for r in rounds]), 0),
                fmt(median([r["batch_ratio"] for r in rounds])),
                fmt(median([r["service"]["create_per_second"] for r in rounds]), 0),
                fmt(median([r["backlog_ratio"] for r in rounds])),
            ]
        )
    print()
    print(
        "Throughput, jobs (or raw tasks) per second; ratios are medians over rounds, target ≥ 0.5"
    )
    print(
        markdown_table(
            [
                "config",
                "N",
                "raw q2 /s",
                "raw, default async_task /s",
                "service /s",
                "API /s",
                "service ÷ raw",
                "API ÷ raw",
                "batch /s",
                "batch ÷ raw",
                "service created /s",
                "backlog (workers alone) ÷ raw",
            ],
            rows,
        )
    )
    print(f"raw figures: {save_results('throughput', results)}")


if __name__ == "__main__":
    main()
