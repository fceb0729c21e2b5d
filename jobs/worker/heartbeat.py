"""Beside every running step: flush its logs, look for a cancel, renew its lease.

One thread per worker process does this for the steps that process runs (django-q2 runs
one task at a time per process, so usually one step). It is started once and wakes every
TICK: starting a thread for every step, or waking one for every step, cost more wall time
on a busy machine than a no-op step's whole engine work.

    beat = heartbeats().watch(job_id, step_run_id, attempt, ctx, log_writer)
    try:
        outcome = executor.run(ctx)
    finally:
        heartbeats().release(beat)   # after this, no tick touches the step any more
"""

import logging
import threading
import time
from uuid import UUID

from django.conf import settings
from django.db import close_old_connections, connection

from jobs.engine.per_process import per_process
from jobs.engine.steps import cancel_requested, renew_lease
from jobs.executors.base import StepContext
from jobs.worker.step_logs import StepLogWriter

log = logging.getLogger(__name__)

TICK = 0.25
CANCEL_POLL = 0.5


class Beat:
    """One running step's timers."""

    def __init__(
        self,
        job_id: UUID,
        step_run_id: int,
        attempt: int,
        ctx: StepContext,
        log_writer: StepLogWriter,
    ) -> None:
        self.job_id, self.step_run_id, self.attempt = job_id, step_run_id, attempt
        self.ctx, self.log_writer = ctx, log_writer
        self.last_beat = self.last_poll = self.last_contact = self.last_tick = time.monotonic()

    def due(self, now: float) -> bool:
        return now - self.last_tick >= TICK * 0.9

    def tick(self) -> None:
        """Flush due log lines, look for a cancel, renew the lease when due; a database
        blip is retried at the next tick, and past the lease the step is stopped rather
        than run twice (the reaper may already have given it to another worker)."""
        self.last_tick = time.monotonic()
        try:
            self.log_writer.flush_if_due()
            now = time.monotonic()
            if now - self.last_poll >= CANCEL_POLL:
                if cancel_requested(self.job_id):
                    self.ctx.request_stop("canceled")
                self.last_poll = now
            if now - self.last_beat >= settings.JOBSITE_HEARTBEAT_SECONDS:
                if not renew_lease(self.step_run_id, self.attempt):
                    self.ctx.request_stop("lease lost")
                self.last_beat = now
            self.last_contact = now
        except Exception:  # noqa: BLE001 - a database blip: the next tick retries
            log.warning("heartbeat of step %s failed", self.step_run_id, exc_info=True)
            close_old_connections()
            if time.monotonic() - self.last_contact > settings.JOBSITE_LEASE_SECONDS:
                self.ctx.request_stop("lease lost")


class HeartbeatThread(threading.Thread):
    """Ticks every watched step every TICK seconds (four wake-ups a second, watched
    steps or not)."""

    def __init__(self):
        super().__init__(name="jobsite-heartbeat", daemon=True)
        self.lock = threading.Lock()  # held while ticking: release() waits for a tick to end
        self.beats = []
        self.wake = threading.Event()
        self.idle = threading.Event()  # set when no step is watched and no connection is open
        self.idle.set()
        self.used_database = False

    def watch(
        self,
        job_id: UUID,
        step_run_id: int,
        attempt: int,
        ctx: StepContext,
        log_writer: StepLogWriter,
    ) -> Beat:
        beat = Beat(job_id, step_run_id, attempt, ctx, log_writer)
        with self.lock:
            self.beats.append(beat)
            self.idle.clear()
        # No wake-up: its first tick is due in TICK anyway, and waking the thread made it
        # take the GIL from the step it is about to watch.
        return beat

    def release(self, beat: Beat) -> None:
        """Stop watching `beat`. Once this returns no tick of it runs or is running. When
        the thread opened a database connection for its ticks and has nothing left to
        watch, wait until it has closed it (a test database can then be dropped)."""
        with self.lock:
            self.beats.remove(beat)
            close_first = not self.beats and self.used_database
        if close_first:
            self.wake.set()
            self.idle.wait(timeout=5)

    def run(self) -> None:
        while True:
            self.wake.wait(TICK)
            self.wake.clear()
            with self.lock:
                for beat in self.beats:
                    if beat.due(time.monotonic()):
                        self.used_database = True
                        beat.tick()
                nothing_left = not self.beats
            if nothing_left:
                if self.used_database:
                    connection.close()
                    self.used_database = False
                with self.lock:
                    if not self.beats:
                        self.idle.set()


@per_process
def heartbeats() -> HeartbeatThread:
    """This process's heartbeat thread, started on first use (and again in a forked
    child, which does not inherit its parent's threads)."""
    thread = HeartbeatThread()
    thread.start()
    return thread
