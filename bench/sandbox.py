#!/usr/bin/env python
"""What the step sandbox costs per step: a no-op `shell` step (`command: [true]`, and a
`script: true`, which starts bash) run by the shell executor with the sandbox off and
on, side by side in one run — each round runs every variant once, in turn — beside the
plain cost of starting a process (`subprocess.run(["true"])`). Reports the medians and
the ratio sandbox on ÷ off. No database: the executor is called directly, as the worker
does once it has claimed a step.

    .venv/bin/python bench/sandbox.py              # 200 rounds
    .venv/bin/python bench/sandbox.py --rounds 50
"""

import argparse
import os
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
    ctx = StepContext(with_=with_, workdir=work / "work", artifacts_dir=work / "artifacts", inputs_dir=work / "inputs")
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
    with tempfile.TemporaryDirectory(prefix="jobsite-bench-sandbox-") as scratch:
        for _ in range(3):  # warm up: imports, page cache, the first bwrap
            for name, variant in variants.items():
                variant() if name.startswith("process") else variant(scratch)
        for _ in range(args.rounds):
            for name, variant in variants.items():
                times[name].append(variant() if name.startswith("process") else variant(scratch))

    medians = {name: statistics.median(values) * 1000 for name, values in times.items()}
    print("\n| variant | median ms | p90 ms |\n|---|---|---|")
    for name, values in times.items():
        p90 = statistics.quantiles(values, n=10)[-1] * 1000
        print(f"| {name} | {medians[name]:.2f} | {p90:.2f} |")
    for kind in ("command [true]", "script 'true'"):
        off, on = medians[f"{kind}, sandbox off"], medians[f"{kind}, sandbox on"]
        print(f"\n{kind}: on ÷ off = {on / off:.2f}; the sandbox adds {on - off:.2f} ms per step")
    print(f"a plain process start: {medians['process start (subprocess.run true)']:.2f} ms")


if __name__ == "__main__":
    main()
