#!/usr/bin/env python
"""(e) Logs: one `shell` step printing 1M lines. Reports the lines stored per second
(lines ÷ the step's running time, from claim to finish, every line committed), the
peak RSS of the worker process that ran the step (VmHWM, read from /proc before the
worker is stopped), the CPU time that process (and, on PostgreSQL, the server processes
of the bench database) spent from the job's creation to its end, and how long the log
tail requests take at the end. Targets: ≥ 50,000 lines/s with a peak RSS < 300 MB.
CPU times do not grow when other processes compete for the cores, so they compare two
builds on a busy machine better than lines/s does.

The step is `seq -f 'line %g of the flood' 1 N`, so the producer costs nothing next to
the storing. Its template raises the per-step log cap to 200 MB (the default 10 MB
would truncate it). The tail requests go through Django's test client in this process:
`GET /api/v1/jobs/{id}/logs/?tail=100`, `?tail=10000`, `?after=<last seq - 1000>`, and
the job page (which shows the last 2000 lines).

    .venv/bin/python bench/logs.py             # 1M lines, SQLite + ORM and PostgreSQL + Redis
    .venv/bin/python bench/logs.py --quick     # 100k lines (make bench)
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    Bench,
    cpu_seconds_of,
    emit_result,
    fmt,
    make_fixtures,
    markdown_table,
    run_configs,
    save_results,
    wait_until,
)

FLOOD_TEMPLATE = """
slug: bench-flood
name: Log flood
type: bench
variables:
  lines: {type: integer, default: 1000000}
settings:
  log_limit_bytes: 200000000
steps:
  - id: flood
    type: shell
    timeout: 3600
    with:
      script: seq -f 'line %g of the flood' 1 "$VAR_LINES"
"""


def descendants(pid):
    """pid and every process below it, from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def memory_of(pid):
    """(VmHWM, VmRSS) in MB of a live process, or None."""
    values = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    name, amount, _ = line.split()
                    values[name[:-1]] = int(amount) / 1024
    except OSError:
        return None
    return values.get("VmHWM"), values.get("VmRSS")


def database_backends(db_name):
    """Pids of the PostgreSQL server processes serving connections to `db_name`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                title = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        if title.startswith("postgres: ") and f" {db_name} " in title:
            found.append(int(entry))
    return found


def timed_get(client, path, headers, repeat=5):
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        response = client.get(path, **headers)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        samples.append((time.perf_counter() - began) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}")
    return statistics.median(samples), len(body)


def run_one(args):
    with Bench(args.config) as bench:
        bench.migrate()
        bench.setup_django()
        fixtures = make_fixtures(extra_templates=[FLOOD_TEMPLATE])
        worker = bench.start("worker")

        from django.test import Client

        from jobs.models import EventKind, Job, StepRun
        from jobs.services import create_job

        # The cluster's processes before the step: the one that runs it will be among them.
        time.sleep(3)
        cpu_before = {pid: cpu_seconds_of(pid) for pid in descendants(worker.pid)}
        backends_before = (
            {pid: cpu_seconds_of(pid) for pid in database_backends(bench.db_name)}
            if bench.db_name
            else {}
        )
        job = create_job(
            fixtures["workspace"],
            template=fixtures["templates"]["bench-flood"],
            variables={"lines": args.lines},
        )
        peak_sampled = {}

        def finished():
            for pid in descendants(worker.pid):
                # A worker process the cluster started after the job was created.
                cpu_before.setdefault(pid, cpu_seconds_of(pid))
                memory = memory_of(pid)
                if memory and memory[1]:
                    peak_sampled[pid] = max(peak_sampled.get(pid, 0), memory[1])
            if bench.db_name:
                for pid in database_backends(bench.db_name):
                    backends_before.setdefault(pid, cpu_seconds_of(pid))
            return Job.objects.filter(pk=job.pk, finished_at__isnull=False).exists()

        if not wait_until(finished, timeout=args.timeout, interval=0.5):
            raise RuntimeError(f"the flood job did not finish within {args.timeout} s")
        job.refresh_from_db()
        step = StepRun.objects.get(job=job)
        if job.status != "succeeded":
            raise RuntimeError(f"the flood job ended {job.status}: {job.error}")
        step_pid = int(step.worker_id.rsplit(":", 1)[1])
        hwm = memory_of(step_pid)
        cpu_after = cpu_seconds_of(step_pid)
        cpu = (
            cpu_after - cpu_before[step_pid]
            if cpu_after is not None and cpu_before.get(step_pid) is not None
            else None
        )
        database_cpu = None
        if bench.db_name:
            # The server processes of the worker's connections (and of this process's
            # polling), from the job's creation or, for a connection opened later, from
            # when it was first seen (polled every 0.5 s): where COPY and commits cost.
            database_cpu = sum(
                (cpu_seconds_of(pid) or before) - before
                for pid, before in backends_before.items()
                if before is not None
            )
        cluster = {pid: memory_of(pid) for pid in descendants(worker.pid)}
        lines = job.events.filter(kind=EventKind.LOG).count()
        seconds = (step.finished_at - step.started_at).total_seconds()
        bench.stop(worker)

        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(fixtures["user"])
        api = {"HTTP_AUTHORIZATION": f"Bearer {fixtures['key']}"}
        tails = {
            "logs/?tail=100": timed_get(client, f"/api/v1/jobs/{job.pk}/logs/?tail=100", api),
            "logs/?tail=10000": timed_get(client, f"/api/v1/jobs/{job.pk}/logs/?tail=10000", api),
            "logs/?after=last-1000": timed_get(
                client, f"/api/v1/jobs/{job.pk}/logs/?after={job.last_event_seq - 1000}", api
            ),
            "job page": timed_get(client, f"/jobs/{job.pk}/", {}),
        }
        result = {
            "lines": lines,
            "expected_lines": args.lines,
            "seconds": seconds,
            "lines_per_second": lines / seconds,
            "worker_peak_rss_mb": hwm[0] if hwm else None,
            "worker_peak_rss_sampled_mb": peak_sampled.get(step_pid),
            "worker_cpu_seconds": cpu,
            "database_cpu_seconds": database_cpu,
            "cluster_peak_rss_mb": max(
                (m[0] for m in cluster.values() if m and m[0]), default=None
            ),
            "tail_ms": {name: ms for name, (ms, _) in tails.items()},
        }
        print(
            f"{lines:,} lines in {seconds:.1f} s = {result['lines_per_second']:,.0f} lines/s; "
            f"worker peak RSS {result['worker_peak_rss_mb']:.0f} MB",
            flush=True,
        )
        if cpu is not None:
            print(
                f"worker CPU {cpu:.1f} s = {cpu / max(lines, 1) * 1e6:.1f} µs per line", flush=True
            )
        if database_cpu is not None:
            print(
                f"PostgreSQL backends CPU {database_cpu:.1f} s = {database_cpu / max(lines, 1) * 1e6:.1f} µs per line",
                flush=True,
            )
        for name, (ms, size) in tails.items():
            print(f"{name}: {ms:.1f} ms ({size:,} bytes)", flush=True)
        if lines != args.lines:
            raise RuntimeError(f"stored {lines} lines, expected {args.lines}")
        emit_result(result)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=int, default=900)
    parser.add_argument("--quick", action="store_true", help="100k lines")
    parser.add_argument("--configs", default="sqlite-orm,pg-redis")
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.lines = 100_000
    if args.config:
        return run_one(args)

    results = run_configs(
        __file__,
        args.configs.split(","),
        ["--lines", str(args.lines), "--timeout", str(args.timeout)],
    )
    rows = [
        [
            config,
            f"{r['lines']:,}",
            fmt(r["seconds"], 1),
            f"{r['lines_per_second']:,.0f}",
            fmt(r["worker_peak_rss_mb"], 0),
            fmt(r.get("worker_cpu_seconds"), 1),
            fmt(r.get("database_cpu_seconds"), 1),
            fmt(r["tail_ms"]["logs/?tail=100"], 1),
            fmt(r["tail_ms"]["logs/?tail=10000"], 1),
            fmt(r["tail_ms"]["logs/?after=last-1000"], 1),
            fmt(r["tail_ms"]["job page"], 1),
        ]
        for config, r in results.items()
    ]
    print()
    print("One step printing many lines; targets ≥ 50,000 lines/s and worker peak RSS < 300 MB")
    print(
        markdown_table(
            [
                "config",
                "lines",
                "step s",
                "lines/s",
                "worker peak RSS MB",
                "worker CPU s",
                "PostgreSQL CPU s",
                "tail=100 ms",
                "tail=10000 ms",
                "after=last-1000 ms",
                "job page ms",
            ],
            rows,
        )
    )
    print(f"raw figures: {save_results('logs', results)}")


if __name__ == "__main__":
    main()
