"""Running a few child processes as one: `serve` and `worker` start their parts as
children, each in its own process group, and stop all of them on Ctrl-C or SIGTERM,
draining first: running steps get JOBSITE_STOP_GRACE_SECONDS to finish (SPEC §13).

Children also get SIGKILL from the kernel if this process dies without cleaning up
(PR_SET_PDEATHSIG), so nothing is left behind."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TextIO

from jobs.executors.process_group import die_with_parent


def _own_group_dying_with_parent():
    os.setpgrp()
    die_with_parent()


def manage_command(*args: str) -> list[str]:
    return [sys.executable, "-u", os.path.join(os.getcwd(), "manage.py"), *args]


def pool_clusters(pools: list[str]) -> dict[str, tuple[list[str], dict[str, str]]]:
    """One django-q2 cluster per worker pool (SPEC §14), each reading its pool's queue:
    `qcluster` with Q_CLUSTER_NAME set to the pool's queue name (django-q2 then takes
    tasks from that Redis list / ORM queue only). The default pool's child keeps the
    name "workers"."""
    from jobs.engine.queue import DEFAULT_POOL, queue_name

    children = {}
    for pool in pools:
        name = "workers" if pool == DEFAULT_POOL else f"workers-{pool}"
        children[name] = (
            manage_command("qcluster"),
            {**os.environ, "Q_CLUSTER_NAME": queue_name(pool)},
        )
    return children


def _signal_group(child, sig):
    try:
        os.killpg(child.pid, sig)
    except ProcessLookupError:
        pass


def supervise(
    children: dict[str, list[str] | tuple[list[str], dict[str, str]]],
    out: TextIO = sys.stdout,
    grace: float = 10.0,
    should_stop: Callable[[], bool] | None = None,
    on_stop: Callable[[], None] | None = None,
) -> int:
    """Start `children` ({name: argv or (argv, env)}), wait until one exits, we are told to stop, or
    `should_stop()` (asked about once a second) says so; then stop them all.

    Stopping: `on_stop()` first (serve and worker mark their host as draining there, so
    no new step is claimed), then SIGTERM to each child's main process, which lets
    django-q2 finish the tasks its workers are running; whatever is left of their groups
    after `grace` seconds is killed. A second SIGINT/SIGTERM during the grace kills at
    once. Returns the exit code to use."""
    stopping = {"signal": None, "count": 0}

    def request_stop(signum, _frame):
        stopping["signal"] = signum
        stopping["count"] += 1

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    procs = {}
    try:
        for name, argv in children.items():
            # argv, or (argv, env) for a child with its own environment (a pool's cluster).
            argv, env = argv if isinstance(argv, tuple) else (argv, None)
            procs[name] = subprocess.Popen(argv, env=env, preexec_fn=_own_group_dying_with_parent)
        exit_code = 0
        last_asked = time.monotonic()
        while stopping["signal"] is None:
            if should_stop and time.monotonic() - last_asked >= 1.0:
                last_asked = time.monotonic()
                if should_stop():
                    break
            ended = [
                (name, proc.returncode) for name, proc in procs.items() if proc.poll() is not None
            ]
            if ended:
                name, code = ended[0]
                out.write(f"{name} exited with code {code}; stopping the rest\n")
                exit_code = code or 1
                break
            time.sleep(0.2)
        if stopping["signal"] is not None:
            name = signal.Signals(stopping["signal"]).name
            out.write(
                f"{name}: stopping; running steps get up to {grace:g} s to finish and no new ones start "
                f"({name} again stops at once)\n"
            )
            out.flush()
        if on_stop:
            on_stop()
        # SIGTERM to each child's main process only: gunicorn and django-q2 then stop
        # their own children in order (django-q2's sentinel stops fetching tasks and
        # waits for its workers' running ones). Whatever is left after the grace period
        # is killed group by group.
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        signals_before = stopping["count"]
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(proc.poll() is None for proc in procs.values()):
            if stopping["count"] > signals_before:
                break
            time.sleep(0.1)
        if any(proc.poll() is None for proc in procs.values()):
            out.write("stopping now: killing what is left\n")
        for proc in procs.values():
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
        return exit_code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
