#!/usr/bin/env python
"""Fault latency (issue 3, item 11), on the embedded default (SQLite + ORM broker):

- cancel: from just before `cancel_job()` (what the API and the UI call) to the moment
  the last process of the step's group is gone, and to the job's `finished_at`. The
  step is a shell script whose two background children ignore SIGTERM, so the engine
  must escalate to SIGKILL;
- worker death: from the SIGKILL of the worker cluster's process group (a crash) while
  an idempotent step runs, to the step `retrying` (the reaper's event) and to its next
  attempt `running` again (its `started_at`). A dispatcher that is not killed runs
  beside it, as on a second host, and the cluster is restarted at once; the measure is
  therefore lease expiry + reaper pass + claim, not the restart.

Each measure is taken `--tries` times (20 by default); p50/p95/max are printed as a
table. Worker-death times scale with the lease: they lie between lease − heartbeat and
lease + dispatch interval + a claim.

    .venv/bin/python bench/fault_latency.py                 # 20 tries, 5 s lease
    .venv/bin/python bench/fault_latency.py --lease 30 --heartbeat 3 --tries 5   # production lease
"""

import argparse
import os
import random
import signal
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Bench, make_fixtures, markdown_table, percentile, save_results, wait_until  # noqa: E402

SAMPLE_TIMEOUT = 60

# The script records its pid (the group leader's) and its children's in $PIDS/<job id>.
CANCEL_TEMPLATE = """
slug: bench-cancel
name: Bench cancel
steps:
  - id: stubborn
    type: shell
    with:
      env: {{PIDS: "{pids}"}}
      script: |
        (trap '' TERM; exec sleep 300) &
        echo $! >> "$PIDS/$JOBSITE_JOB_ID"
        (trap '' TERM; exec sleep 300) &
        echo $! >> "$PIDS/$JOBSITE_JOB_ID"
        echo $$ >> "$PIDS/$JOBSITE_JOB_ID"
        wait
"""
DEATH_TEMPLATE = """
slug: bench-death
name: Bench worker death
steps:
  - id: survivor
    type: shell
    idempotent: true
    retries: 1
    retry_backoff: 0
    with:
      command: [sleep, "300"]
"""


def group_alive(pgid, pids):
    """Whether a process of the step's group is still alive (zombies count as gone)."""
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            return True
    return False


def cancel_sample(fixtures, pids_dir):
    from jobs.models import Job
    from jobs.services import cancel_job, create_job

    job = create_job(
        fixtures["workspace"], template=fixtures["templates"]["bench-cancel"], name="cancel"
    )
    pids_file = pids_dir / str(job.pk)

    def started():
        return pids_file.exists() and len(pids_file.read_text().split()) == 3

    if not wait_until(started, timeout=SAMPLE_TIMEOUT, interval=0.01):
        raise RuntimeError(f"job {job.pk}: the step did not start within {SAMPLE_TIMEOUT} s")
    pids = [int(pid) for pid in pids_file.read_text().split()]
    pgid = pids[-1]
    time.sleep(random.uniform(0.0, 1.0))  # any moment of the heartbeat's cycle
    requested = time.time()
    cancel_job(job)
    while group_alive(pgid, pids):
        if time.time() - requested > SAMPLE_TIMEOUT:
            raise RuntimeError(
                f"job {job.pk}: processes {pids} still alive {SAMPLE_TIMEOUT} s after cancel"
            )
        time.sleep(0.002)
    gone = time.time()
    if not wait_until(
        lambda: Job.objects.get(pk=job.pk).status == "canceled",
        timeout=SAMPLE_TIMEOUT,
        interval=0.01,
    ):
        raise RuntimeError(f"job {job.pk} did not end canceled")
    finished = Job.objects.get(pk=job.pk).finished_at.timestamp()
    return gone - requested, finished - requested


def death_sample(bench, fixtures, cluster):
    """Kill `cluster` mid-step, restart it; returns (seconds to retrying, seconds to
    running again, the new cluster process)."""
    from jobs.models import JobEvent, StepRun
    from jobs.services import cancel_job, create_job

    job = create_job(
        fixtures["workspace"], template=fixtures["templates"]["bench-death"], name="death"
    )
    step = StepRun.objects.get(job=job)
    if not wait_until(
        lambda: StepRun.objects.get(pk=step.pk).status == "running",
        timeout=SAMPLE_TIMEOUT,
        interval=0.01,
    ):
        raise RuntimeError(f"job {job.pk}: the step did not start within {SAMPLE_TIMEOUT} s")
    time.sleep(random.uniform(0.5, 1.5))  # any moment of the heartbeat's cycle
    killed = time.time()
    os.killpg(cluster.pid, signal.SIGKILL)
    cluster.wait()
    bench.deployment.processes.remove(cluster)
    cluster = bench.start("worker", "--no-dispatcher", log_name="worker")

    def running_again():
        fresh = StepRun.objects.get(pk=step.pk)
        return fresh.attempt == 2 and fresh.status == "running"

    if not wait_until(running_again, timeout=SAMPLE_TIMEOUT, interval=0.01):
        raise RuntimeError(
            f"job {job.pk}: the step was not running again {SAMPLE_TIMEOUT} s after its worker died"
        )
    retrying_at = (
        JobEvent.objects.filter(job=job, kind="step.status", data__to="retrying")
        .values_list("created_at", flat=True)
        .get()
    )
    running_at = StepRun.objects.get(pk=step.pk).started_at
    cancel_job(job)
    wait_until(
        lambda: StepRun.objects.get(pk=step.pk).status == "canceled",
        timeout=SAMPLE_TIMEOUT,
        interval=0.05,
    )
    return retrying_at.timestamp() - killed, running_at.timestamp() - killed, cluster


def summarize(values):
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": max(values),
        "n": len(values),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tries", type=int, default=20)
    parser.add_argument("--lease", type=int, default=5, help="JOBSITE_LEASE_SECONDS (default 5)")
    parser.add_argument(
        "--heartbeat", type=int, default=1, help="JOBSITE_HEARTBEAT_SECONDS (default 1)"
    )
    parser.add_argument(
        "--interval", type=float, default=1.0, help="JOBSITE_DISPATCH_INTERVAL (default 1.0)"
    )
    args = parser.parse_args()

    env = {
        "JOBSITE_LEASE_SECONDS": str(args.lease),
        "JOBSITE_HEARTBEAT_SECONDS": str(args.heartbeat),
        "JOBSITE_DISPATCH_INTERVAL": str(args.interval),
    }
    with Bench("sqlite-orm", workers=2, env=env) as bench:
        pids_dir = bench.tmp / "pids"
        pids_dir.mkdir()
        bench.migrate()
        bench.setup_django()
        from django.conf import settings

        fixtures = make_fixtures(
            extra_templates=(CANCEL_TEMPLATE.format(pids=pids_dir), DEATH_TEMPLATE)
        )
        bench.start("dispatcher")
        cluster = bench.start("worker", "--no-dispatcher", log_name="worker")

        samples = {"cancel_gone": [], "cancel_job": [], "death_retrying": [], "death_running": []}
        for i in range(args.tries):
            gone, finished = cancel_sample(fixtures, pids_dir)
            samples["cancel_gone"].append(gone)
            samples["cancel_job"].append(finished)
            print(
                f"cancel {i + 1}/{args.tries}: processes gone {gone:.2f} s, job canceled {finished:.2f} s",
                flush=True,
            )
        for i in range(args.tries):
            retrying, running, cluster = death_sample(bench, fixtures, cluster)
            samples["death_retrying"].append(retrying)
            samples["death_running"].append(running)
            print(
                f"worker death {i + 1}/{args.tries}: retrying {retrying:.2f} s, running again {running:.2f} s",
                flush=True,
            )

        summary = {name: summarize(values) for name, values in samples.items()}
        labels = {
            "cancel_gone": "cancel → last process of the step's group gone",
            "cancel_job": "cancel → job `canceled`",
            "death_retrying": "worker killed → step `retrying`",
            "death_running": "worker killed → step running again",
        }
        rows = [
            [
                labels[name],
                row["n"],
                f"{row['p50']:.2f} s",
                f"{row['p95']:.2f} s",
                f"{row['max']:.2f} s",
            ]
            for name, row in summary.items()
        ]
        print()
        print(
            f"SQLite + ORM broker, {datetime.now():%Y-%m-%d}: lease {settings.JOBSITE_LEASE_SECONDS} s, "
            f"heartbeat {settings.JOBSITE_HEARTBEAT_SECONDS} s, dispatch interval {settings.JOBSITE_DISPATCH_INTERVAL} s, "
            f"kill grace {settings.JOBSITE_KILL_GRACE_SECONDS} s, cancel polled every 0.5 s"
        )
        print(markdown_table(["measure", "tries", "p50", "p95", "max"], rows))
        path = save_results(
            f"fault_latency-lease{args.lease}",
            {"settings": env, "summary": summary, "samples": samples},
        )
        print(f"\nraw figures: {path}")


if __name__ == "__main__":
    main()
