#!/usr/bin/env python
"""What the step sandbox costs per step: a no-op `shell` step (`command: [true]`, and a
`script: true`, which starts bash) run by the shell executor with the sandbox off and
on, side by side in one run — each round runs every variant once, in turn — beside the
plain cost of starting a process (`subprocess.run(["true"])`). Reports the median wall
time, the mean CPU time (this process and every process it started and reaped: bwrap,
its reaper, setpriv, the step — a figure that does not grow when other processes
compete for the cores, unlike wall time), and the ratios sandbox on ÷ off. No database:
the executor is called directly, as the worker does once it has claimed a step.

    .venv/bin/python bench/sandbox.py              # 200 rounds
    .venv/bin/python bench/sandbox.py --rounds 50
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jobsite.settings")
os.environ.setdefault("SECRET_KEY", "bench-sandbox-only")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from jobs.executors import sandbox  # noqa: E402
from jobs.executors.base import StepContext  # noqa: E402
from jobs.executors.shell import ShellExecutor  # noqa: E402


def run_step(mode, with_, scratch):
    settings.JOBSITE_SANDBOX = mode
    work = Path(tempfile.mkdtemp(dir=scratch))
    ctx = StepContext(
        with_=with_,
        workdir=work / "work",
        artifacts_dir=work / "artifacts",
        inputs_dir=work / "inputs",
    )
    started = time.perf_counter()
    outcome = ShellExecutor().run(ctx)
    elapsed = time.perf_counter() - started
    assert outcome.status == "succeeded", outcome.error
    return elapsed


def start_process():
    started = time.perf_counter()
    subprocess.run(["true"], check=True)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    if problem := sandbox.bwrap_problem():
        sys.exit(f"no working bwrap here: {problem}")
    print(f"bwrap: {sandbox.find_bwrap()}; running as uid {os.geteuid()}; {args.rounds} rounds")

    variants = {
        "process start (subprocess.run true)": start_process,
        "command [true], sandbox off": lambda s: run_step("off", {"command": ["true"]}, s),
        "command [true], sandbox on": lambda s: run_step("bwrap", {"command": ["true"]}, s),
        "script 'true', sandbox off": lambda s: run_step("off", {"script": "true"}, s),
        "script 'true', sandbox on": lambda s: run_step("bwrap", {"script": "true"}, s),
    }
    times = {name: [] for name in variants}
    cpu = {name: 0.0 for name in variants}
    with tempfile.TemporaryDirectory(prefix="jobsite-bench-sandbox-") as scratch:
        for _ in range(3):  # warm up: imports, page cache, the first bwrap
            for name, variant in variants.items():
                variant() if name.startswith("process") else variant(scratch)
        for _ in range(args.rounds):
            for name, variant in variants.items():
                before = cpu_seconds()
                times[name].append(variant() if name.startswith("process") else variant(scratch))
                cpu[name] += cpu_seconds() - before

    medians = {name: statistics.median(values) * 1000 for name, values in times.items()}
    cpu_ms = {name: total / args.rounds * 1000 for name, total in cpu.items()}
    print("\n| variant | wall median ms | wall p90 ms | CPU ms (mean) |\n|---|---|---|---|")
    for name, values in times.items():
        p90 = statistics.quantiles(values, n=10)[-1] * 1000
        print(f"| {name} | {medians[name]:.2f} | {p90:.2f} | {cpu_ms[name]:.2f} |")
    for kind in ("command [true]", "script 'true'"):
        off, on = f"{kind}, sandbox off", f"{kind}, sandbox on"
        print(
            f"\n{kind}: on ÷ off = {medians[on] / medians[off]:.2f} wall, {cpu_ms[on] / cpu_ms[off]:.2f} CPU;"
            f" the sandbox adds {medians[on] - medians[off]:.2f} ms wall, {cpu_ms[on] - cpu_ms[off]:.2f} ms CPU per step"
        )
    start = "process start (subprocess.run true)"
    print(f"a plain process start: {medians[start]:.2f} ms wall, {cpu_ms[start]:.2f} ms CPU")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def cpu_seconds():
    """User + system CPU of this process and of its reaped children (and theirs)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    main()
