#!/usr/bin/env python
"""(b) Latency: a job created → its step running, against a raw django-q2 task
enqueued → started. Target: jobsite p50 ≤ raw p50 + 25 ms.

One `manage.py worker` (django-q2 cluster + dispatcher) serves both kinds, one sample at
a time and interleaved (raw, service, API, raw, …), with a random pause of 20–120 ms
before each so that no sample lines up with the ORM broker's 0.1 s poll.

- raw: from just before `async_task(...)` to the moment `bench.tasks.mark` starts;
- service: from just before `create_job(start=True)` to the step's `started_at` (set
  when the worker claims it: the step is running);
- API: from just before `POST /api/v1/jobs/` to the step's `started_at`.

    .venv/bin/python bench/latency.py            # 200 samples of each, both configs
    .venv/bin/python bench/latency.py --quick    # 40 samples (make bench)
"""

import argparse
import random
import sys
import time
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
    percentile,
    run_configs,
    save_results,
    wait_until,
)

SAMPLE_TIMEOUT = 30


_raw_broker = []


def raw_broker():
    """One broker for every raw enqueue, as jobsite keeps one (jobs/engine/queue.py): a new one
    per call would put a Redis connection setup into the raw side's latency."""
    from django_q.brokers import get_broker

    if not _raw_broker:
        _raw_broker.append(get_broker())
    return _raw_broker[0]


def raw_sample(bench, tag):
    from django_q.tasks import async_task

    started = time.time()
    async_task(RAW_TASK, tag, broker=raw_broker())
    found = {}

    def ran():
        found.update(bench.read_marks())
        return tag in found

    if not wait_until(ran, timeout=SAMPLE_TIMEOUT, interval=0.005):
        raise RuntimeError(f"raw task {tag} did not run within {SAMPLE_TIMEOUT} s")
    return found[tag] - started


def step_started(job_id):
    from jobs.models import StepRun

    holder = {}

    def running():
        holder["at"] = (
            StepRun.objects.filter(job_id=job_id).values_list("started_at", flat=True).first()
        )
        return holder["at"] is not None

    if not wait_until(running, timeout=SAMPLE_TIMEOUT, interval=0.005):
        raise RuntimeError(f"job {job_id}: its step did not start within {SAMPLE_TIMEOUT} s")
    return holder["at"].timestamp()


def service_sample(fixtures):
    from jobs.models import Trigger
    from jobs.services import create_job

    started = time.time()
    job = create_job(
        fixtures["workspace"],
        template=fixtures["templates"]["bench-noop"],
        name="latency",
        trigger=Trigger.CLI,
    )
    return step_started(job.pk) - started


def api_sample(api):
    import json

    started = time.time()
    status, body = api.request(
        "POST", "/api/v1/jobs/", {"template": "bench-noop", "name": "latency-api"}
    )
    if status != 201:
        raise RuntimeError(f"POST /api/v1/jobs/ answered {status}: {body[:200]}")
    return step_started(json.loads(body)["id"]) - started


def run_one(args):
    with Bench(args.config) as bench:
        bench.migrate()
        bench.setup_django()
        fixtures = make_fixtures()
        _, base = bench.start_gunicorn()
        bench.start("worker")
        api = ApiClient(base, fixtures["key"])
        samples = {"raw": [], "service": [], "api": []}
        try:
            for i in range(-3, args.samples):  # three warm-up rounds, not counted
                for kind in ("raw", "service", "api"):
                    time.sleep(random.uniform(0.02, 0.12))
                    if kind == "raw":
                        seconds = raw_sample(bench, f"lat-{i}")
                    elif kind == "service":
                        seconds = service_sample(fixtures)
                    else:
                        seconds = api_sample(api)
                    if i >= 0:
                        samples[kind].append(seconds * 1000)
        finally:
            api.close()
        summary = {
            kind: {"p50": percentile(values, 50), "p95": percentile(values, 95), "n": len(values)}
            for kind, values in samples.items()
        }
        for kind, row in summary.items():
            print(f"{kind}: p50 {row['p50']:.1f} ms, p95 {row['p95']:.1f} ms", flush=True)
        emit_result({"summary": summary, "samples": samples})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="40 samples")
    parser.add_argument("--configs", default="sqlite-orm,pg-redis")
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.samples = 40
    if args.config:
        return run_one(args)

    results = run_configs(__file__, args.configs.split(","), ["--samples", str(args.samples)])
    rows = []
    for config, result in results.items():
        s = result["summary"]
        rows.append(
            [
                config,
                s["raw"]["n"],
                f"{fmt(s['raw']['p50'], 1)} / {fmt(s['raw']['p95'], 1)}",
                f"{fmt(s['service']['p50'], 1)} / {fmt(s['service']['p95'], 1)}",
                f"{fmt(s['api']['p50'], 1)} / {fmt(s['api']['p95'], 1)}",
                f"{s['service']['p50'] - s['raw']['p50']:+.1f}",
                f"{s['api']['p50'] - s['raw']['p50']:+.1f}",
            ]
        )
    print()
    print("Latency to running, ms (p50 / p95); target: jobsite p50 − raw p50 ≤ +25 ms")
    print(
        markdown_table(
            [
                "config",
                "samples",
                "raw q2 enqueue→start",
                "service create→running",
                "API POST→running",
                "service − raw p50",
                "API − raw p50",
            ],
            rows,
        )
    )
    print(f"raw figures: {save_results('latency', results)}")


if __name__ == "__main__":
    main()
