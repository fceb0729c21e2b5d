#!/usr/bin/env python
"""Chains: what a job of many small steps spends between its steps (issue 15).

Three shapes of `noop` steps, each run `--repeats` times one job at a time on one
`manage.py worker` (2 worker processes + the dispatcher):

- chain: 40 steps, each needing the one before;
- fan-out: 40 independent steps and a join that needs them all;
- diamond: a → (b, c) → d.

For each job: created → finished (just before `create_job` → the job's `finished_at`);
for each step with needs, its transition time: the last of its needs' `finished_at` →
its own `started_at` (claimed: running). The transitions of all repeats of a shape are
pooled into p50 / p90 / max and a small histogram. Targets: chain ≤ 0.3 s, transition
p50 ≤ 5 ms, fan-out + join ≤ 0.3 s.

    .venv/bin/python bench/chain.py                      # 5 repeats, both configs
    .venv/bin/python bench/chain.py --configs sqlite-orm --repeats 3
    .venv/bin/python bench/chain.py --no-eager          # the broker between every two steps
    .venv/bin/python bench/chain.py --poll 0.01         # the ORM broker's poll (default 0.1 s)

It also prints the CPU the idle worker (the command and its cluster) uses over 10 s: the
cost of the ORM broker's poll.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    Bench,
    emit_result,
    fmt,
    make_fixtures,
    markdown_table,
    median,
    percentile,
    run_configs,
    save_results,
    wait_until,
)

WIDTH = 40


def chain_template():
    lines = ["slug: bench-chain", "name: Bench chain", "steps:"]
    for i in range(WIDTH):
        lines.append(f"  - id: s{i:02d}")
        lines.append("    type: noop")
        if i:
            lines.append(f"    needs: [s{i - 1:02d}]")
    return "\n".join(lines) + "\n"


def fanout_template():
    lines = ["slug: bench-fanout", "name: Bench fan-out", "steps:"]
    for i in range(WIDTH):
        lines.append(f"  - id: p{i:02d}")
        lines.append("    type: noop")
    lines.append("  - id: join")
    lines.append("    type: noop")
    lines.append("    needs: [" + ", ".join(f"p{i:02d}" for i in range(WIDTH)) + "]")
    return "\n".join(lines) + "\n"


DIAMOND = """
slug: bench-diamond
name: Bench diamond
steps:
  - id: a
    type: noop
  - id: b
    type: noop
    needs: [a]
  - id: c
    type: noop
    needs: [a]
  - id: d
    type: noop
    needs: [b, c]
"""

SHAPES = {"chain": "bench-chain", "fanout": "bench-fanout", "diamond": "bench-diamond"}
BUCKETS_MS = [1, 2, 5, 10, 20, 50, 100, 200, float("inf")]


def run_job(fixtures, slug, name):
    """(created → finished seconds, [transition seconds]) of one job."""
    from jobs.models import Job, StepRun, Trigger
    from jobs.services import create_job

    started = time.time()
    job = create_job(
        fixtures["workspace"], template=fixtures["templates"][slug], name=name, trigger=Trigger.CLI
    )
    jobs = Job.objects.filter(pk=job.pk)
    if not wait_until(
        lambda: jobs.filter(finished_at__isnull=False).exists(), timeout=120, interval=0.01
    ):
        raise RuntimeError(f"{name}: job {job.pk} did not finish within 120 s")
    job = jobs.get()
    if job.status != "succeeded":
        raise RuntimeError(f"{name}: job {job.pk} ended {job.status}: {job.error}")
    steps = {s.step_id: s for s in StepRun.objects.filter(job=job)}
    transitions = []
    for step in steps.values():
        if step.needs:
            ready = max(steps[need].finished_at for need in step.needs)
            transitions.append((step.started_at - ready).total_seconds())
    workers = {s.worker_id for s in steps.values()}
    return job.finished_at.timestamp() - started, transitions, len(workers)


def idle_cpu(pgid, seconds=10.0):
    """CPU share (of one core) the worker command and everything it started use while
    idle: what the ORM broker's poll costs."""
    import os

    tick = os.sysconf("SC_CLK_TCK")

    def cpu():
        total = 0
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == pgid:  # field 6, the session: the worker command leads
                # it, and its django-q2 cluster runs in a process group of its own
                total += int(fields[11]) + int(fields[12])  # utime + stime
        return total / tick

    time.sleep(2.0)
    before = cpu()
    time.sleep(seconds)
    return (cpu() - before) / seconds


def histogram(values_ms):
    counts = []
    low = 0.0
    for high in BUCKETS_MS:
        counts.append((low, high, sum(1 for v in values_ms if low <= v < high)))
        low = high
    return counts


def run_one(args):
    env = {"JOBSITE_QUEUE_POLL_SECONDS": str(args.poll)} if args.poll else {}
    if args.no_eager:
        env["JOBSITE_EAGER_DISPATCH"] = "0"
    with Bench(args.config, workers=args.workers, env=env) as bench:
        bench.migrate()
        bench.setup_django()
        fixtures = make_fixtures([chain_template(), fanout_template(), DIAMOND])
        worker = bench.start("worker")
        results = {}
        run_job(fixtures, "bench-diamond", "warm")
        for shape, slug in SHAPES.items():
            totals, transitions, workers = [], [], []
            for r in range(args.repeats):
                seconds, moves, used = run_job(fixtures, slug, f"{shape}-{r}")
                totals.append(seconds)
                transitions.extend(moves)
                workers.append(used)
            ms = [t * 1000 for t in transitions]
            results[shape] = {
                "totals": totals,
                "transitions_ms": ms,
                "workers_used": workers,
                "p50": percentile(ms, 50),
                "p90": percentile(ms, 90),
                "max": max(ms),
            }
            print(
                f"{shape}: created→finished median {median(totals):.3f} s (min {min(totals):.3f}, max {max(totals):.3f}); "
                f"transition p50 {percentile(ms, 50):.1f} ms, p90 {percentile(ms, 90):.1f} ms, max {max(ms):.1f} ms "
                f"over {len(ms)}; worker processes used {workers}",
                flush=True,
            )
            print(
                "   " + "  ".join(f"[{lo:g},{hi:g}) ms: {n}" for lo, hi, n in histogram(ms)),
                flush=True,
            )
        results["idle_cpu"] = idle_cpu(worker.pid)
        print(
            f"worker command and its cluster, idle: {results['idle_cpu'] * 100:.1f} % of one core",
            flush=True,
        )
        emit_result(results)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--configs", default="sqlite-orm,pg-redis")
    parser.add_argument(
        "--poll", type=float, help="the ORM broker's poll (JOBSITE_QUEUE_POLL_SECONDS), default 0.1"
    )
    parser.add_argument(
        "--no-eager",
        action="store_true",
        help="JOBSITE_EAGER_DISPATCH=0: the broker between every two steps",
    )
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.config:
        return run_one(args)

    forwarded = ["--repeats", str(args.repeats), "--workers", str(args.workers)]
    forwarded += (["--poll", str(args.poll)] if args.poll else []) + (
        ["--no-eager"] if args.no_eager else []
    )
    results = run_configs(__file__, args.configs.split(","), forwarded)
    rows = []
    for config, result in results.items():
        for shape in SHAPES:
            r = result[shape]
            rows.append(
                [
                    config,
                    shape,
                    len(r["totals"]),
                    f"{fmt(median(r['totals']), 3)} ({fmt(min(r['totals']), 3)}–{fmt(max(r['totals']), 3)})",
                    f"{fmt(r['p50'], 1)} / {fmt(r['p90'], 1)} / {fmt(r['max'], 1)}",
                ]
            )
    print()
    print("Chains of noop steps; targets: chain and fan-out ≤ 0.3 s, transition p50 ≤ 5 ms")
    print(
        markdown_table(
            [
                "config",
                "shape",
                "jobs",
                "created → finished s, median (min–max)",
                "step finished → next started ms, p50 / p90 / max",
            ],
            rows,
        )
    )
    print(
        "worker idle CPU (% of one core): "
        + ", ".join(
            f"{config} {result['idle_cpu'] * 100:.1f}" for config, result in results.items()
        )
    )
    print(f"raw figures: {save_results('chain', results)}")


if __name__ == "__main__":
    main()
