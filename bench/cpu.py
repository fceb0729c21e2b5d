#!/usr/bin/env python
"""CPU per operation in-process, the figure a loaded machine disturbs least
(docs/benchmarks.md, round 2b): `time.process_time` over

- engine: `create_job` + `run_step` of a one-step noop job;
- API: WSGI calls through `django.test.Client` with an API key to `jobs/{id}/status/`,
  `jobs/{id}/` (a finished three-step job) and the bare view (bench/bare_view.py);
  with `--drf`, the two API reads again without the lean path (jobs/api/lean_reads.py).

Each figure is in ms: [median chunk, best chunk, median chunk's wall time, best wall],
over 5 chunks. One JSON line per run; compare runs alternated with another tree.

    .venv/bin/python bench/cpu.py sqlite-orm
    .venv/bin/python bench/cpu.py pg-redis --drf
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api_load import THREE_STEPS, finished_job  # noqa: E402
from bench.common import Bench, make_fixtures  # noqa: E402


def measure(action, n, chunks=5):
    cpu, wall = [], []
    for _ in range(chunks):
        started_cpu, started_wall = time.process_time(), time.perf_counter()
        for _ in range(n // chunks):
            action()
        cpu.append((time.process_time() - started_cpu) / (n // chunks) * 1000)
        wall.append((time.perf_counter() - started_wall) / (n // chunks) * 1000)
    return [
        round(statistics.median(cpu), 3),
        round(min(cpu), 3),
        round(statistics.median(wall), 3),
        round(min(wall), 3),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", choices=["sqlite-orm", "pg-redis", "pg-orm"])
    parser.add_argument("--jobs", type=int, default=150)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--drf", action="store_true", help="also the API reads through DRF only")
    args = parser.parse_args()
    with Bench(args.config) as bench:
        bench.migrate()
        bench.setup_django()
        from django.test import Client

        from jobs.engine.states import StepStatus
        from jobs.models import StepRun
        from jobs.services import create_job
        from jobs.worker.step_runner import run_step

        fixtures = make_fixtures(extra_templates=[THREE_STEPS])

        def one_job():
            job = create_job(
                fixtures["workspace"], template=fixtures["templates"]["bench-noop"], name="cpu"
            )
            step = StepRun.objects.filter(job=job, status=StepStatus.QUEUED).first()
            run_step(step.pk, step.attempt)

        for _ in range(10):
            one_job()
        result = {"config": args.config, "engine_ms_per_job": measure(one_job, args.jobs)}
        job = finished_job(fixtures)
        client = Client(HTTP_AUTHORIZATION=f"Bearer {fixtures['key']}", HTTP_HOST="127.0.0.1")
        urls = {
            "bare": f"/bench/jobs/{job.pk}/",
            "status": f"/api/v1/jobs/{job.pk}/status/",
            "detail": f"/api/v1/jobs/{job.pk}/",
        }

        def read(url):
            response = client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"{url}: {response.status_code}")

        def measure_reads(prefix, names):
            for name in names:
                url = urls[name]
                for _ in range(20):
                    read(url)
                result[prefix + name] = measure(lambda url=url: read(url), args.requests)

        measure_reads("", urls)
        if args.drf:
            from jobs.api import lean_reads

            lean_reads.answer = lambda *args: None
            measure_reads("drf_", ["status", "detail"])
        print(json.dumps(result))


if __name__ == "__main__":
    main()
