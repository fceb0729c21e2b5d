#!/usr/bin/env python
"""(c) API under load: `GET /api/v1/jobs/{id}/status/` and `GET /api/v1/jobs/{id}/`
against a bare Django view that reads the same row and returns JSON
(bench/bare_view.py, mounted only with JOBSITE_BENCH_VIEWS=1), all served by the same
gunicorn (`manage.py serve`'s settings: 2 workers × 4 threads) and loaded by `wrk` on
127.0.0.1. Target: each endpoint ≥ 0.7 of the bare view's requests per second.

The job is a finished three-step job (so `jobs/{id}/` carries its steps and result).
Rounds run bare, status, detail, and every other round the reverse; each ratio is taken
within a round and the median over rounds is reported. A run whose connections all went
to one gunicorn worker (under a quarter of the CPU on the other) is redone, at most
three times: it measures one process of two. Every response must be 2xx (wrk
counts the others).

Needs wrk: `apt-get install -y wrk`.

    .venv/bin/python bench/api_load.py            # 3 rounds of 10 s per endpoint
    .venv/bin/python bench/api_load.py --quick    # 1 round of 3 s (make bench)
"""

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    Bench,
    cpu_seconds_of,
    emit_result,
    fmt,
    make_fixtures,
    markdown_table,
    median,
    run_configs,
    save_results,
)

THREE_STEPS = """
slug: bench-three
name: Bench three steps
type: bench
variables:
  label: {type: string, default: bench}
steps:
  - id: first
    type: noop
    with: {outputs: {rows: 3}}
  - id: second
    type: noop
    needs: [first]
  - id: report
    type: report
    needs: [second]
    with:
      markdown: "# Done: {{ vars.label }}"
"""
CONNECTIONS = 8
WRK_THREADS = 2


def finished_job(fixtures):
    """Create and run a three-step job in this process, as a worker would."""
    from jobs.engine.states import StepStatus
    from jobs.models import Job, StepRun
    from jobs.services import create_job
    from jobs.worker.step_runner import run_step

    job = create_job(
        fixtures["workspace"], template=fixtures["templates"]["bench-three"], name="api-load"
    )
    for _ in range(10):
        queued = StepRun.objects.filter(job=job, status=StepStatus.QUEUED).first()
        if queued is None:
            break
        run_step(queued.pk, queued.attempt)
    job = Job.objects.get(pk=job.pk)
    if job.status != "succeeded":
        raise RuntimeError(f"the fixture job ended {job.status}")
    return job


def wrk(url, seconds, key=None):
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    if key:
        command += ["-H", f"Authorization: Bearer {key}"]
    out = subprocess.run(
        command + [url], capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", out)
    p50_ms = (
        float(p50.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p50.group(2)]
        if p50
        else float("nan")
    )
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    if bad:
        raise RuntimeError(f"{url}: {bad.group(1)} non-2xx answers")
    return {"rps": rps, "p50_ms": p50_ms, "socket_errors": errors.group(0) if errors else ""}


def worker_pids(master_pid: int) -> list[int]:
    """The gunicorn master's worker processes (Linux: /proc's children list)."""
    with open(f"/proc/{master_pid}/task/{master_pid}/children") as children:
        return [int(pid) for pid in children.read().split()]


UNEVEN = 0.25  # a run where one worker did less than this share of the CPU is redone
ATTEMPTS = 3


def balanced_wrk(master_pid: int, url, seconds, key=None):
    """wrk(...), redone (at most ATTEMPTS times) when its keep-alive connections went to
    one gunicorn worker: wrk opens them at the start of the run and the workers accept
    them from one socket, so a run can measure one process of two (docs/benchmarks.md,
    round 9). The answer says how many runs it took and each worker's share of the CPU."""
    attempts = 0
    while True:
        attempts += 1
        pids = worker_pids(master_pid)
        before = [cpu_seconds_of(pid) or 0.0 for pid in pids]
        result = wrk(url, seconds, key)
        used = [(cpu_seconds_of(pid) or 0.0) - cpu for pid, cpu in zip(pids, before, strict=True)]
        shares = [round(cpu / (sum(used) or 1), 2) for cpu in used]
        if len(shares) < 2 or min(shares) >= UNEVEN or attempts == ATTEMPTS:
            return {**result, "attempts": attempts, "worker_shares": shares}


def run_one(args):
    with Bench(args.config) as bench:
        bench.migrate()
        bench.setup_django()
        fixtures = make_fixtures(extra_templates=[THREE_STEPS])
        job = finished_job(fixtures)
        gunicorn, base = bench.start_gunicorn()
        urls = {
            "bare": (f"{base}/bench/jobs/{job.pk}/", None),
            "status": (f"{base}/api/v1/jobs/{job.pk}/status/", fixtures["key"]),
            "detail": (f"{base}/api/v1/jobs/{job.pk}/", fixtures["key"]),
        }
        for url, key in urls.values():  # warm every gunicorn worker up
            wrk(url, 1, key)
        rounds = []
        for r in range(args.rounds):
            # Every other round runs the endpoints in reverse order, so that load from
            # elsewhere on a shared machine, rising or falling during a round, does not
            # always favour the same endpoint.
            order = list(urls) if r % 2 == 0 else list(reversed(urls))
            row = {
                name: balanced_wrk(gunicorn.pid, urls[name][0], args.seconds, urls[name][1])
                for name in order
            }
            row["status_ratio"] = row["status"]["rps"] / row["bare"]["rps"]
            row["detail_ratio"] = row["detail"]["rps"] / row["bare"]["rps"]
            rounds.append(row)
            print(
                f"round {r + 1}: bare {row['bare']['rps']:.0f}/s, status {row['status']['rps']:.0f}/s "
                f"({row['status_ratio']:.2f}), detail {row['detail']['rps']:.0f}/s ({row['detail_ratio']:.2f}); "
                f"runs redone for an uneven split: {sum(row[name]['attempts'] - 1 for name in urls)}",
                flush=True,
            )
        emit_result({"rounds": rounds})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s")
    parser.add_argument("--configs", default="pg-redis,sqlite-orm")
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("api_load.py needs wrk: apt-get install -y wrk")
    if args.quick:
        args.seconds, args.rounds = 3, 1
    if args.config:
        return run_one(args)

    results = run_configs(
        __file__,
        args.configs.split(","),
        ["--seconds", str(args.seconds), "--rounds", str(args.rounds)],
    )
    rows = []
    for config, result in results.items():
        rounds = result["rounds"]
        rows.append(
            [
                config,
                fmt(median([r["bare"]["rps"] for r in rounds]), 0),
                fmt(median([r["status"]["rps"] for r in rounds]), 0),
                fmt(median([r["detail"]["rps"] for r in rounds]), 0),
                fmt(median([r["status_ratio"] for r in rounds])),
                fmt(median([r["detail_ratio"] for r in rounds])),
            ]
        )
    print()
    print(
        f"API requests per second under wrk ({CONNECTIONS} connections); target ≥ 0.7 of the bare view"
    )
    print(
        markdown_table(
            [
                "config",
                "bare view /s",
                "status/ /s",
                "jobs/{id}/ /s",
                "status ÷ bare",
                "detail ÷ bare",
            ],
            rows,
        )
    )
    print(f"raw figures: {save_results('api_load', results)}")


if __name__ == "__main__":
    main()
