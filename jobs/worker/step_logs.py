"""Writing a running step's log lines and progress to the job's event stream in batches.

One transaction per batch, not per line (SPEC §8): lines are buffered and flushed when
the buffer is large, when it is older than FLUSH_SECONDS (checked by the heartbeat
thread as well), and at the end of the step. Secret values are masked before anything is
stored, and a step's log volume is capped with one truncation marker.
"""

import threading
import time

from django.conf import settings
from django.db import close_old_connections

from jobs.engine.events import mask_secrets, record_events
from jobs.engine.states import StepStatus
from jobs.engine.transitions import locked_job
from jobs.models import EventKind, Job, StepRun

# Lines per batch: large batches amortize the transaction (docs/benchmarks.md, logs).
FLUSH_LINES = 5000
FLUSH_SECONDS = 0.3
MAX_LINE_CHARS = 8192


class StepLogWriter:
    def __init__(self, job: Job, step: StepRun, attempt: int) -> None:
        self.job_id = job.pk
        self.step_pk = step.pk
        self.step_id = step.step_id
        self.attempt = attempt
        self.secrets = job.secret_values()
        self.limit = int(
            job.definition.get("settings", {}).get("log_limit_bytes")
            or settings.JOBSITE_LOG_LIMIT_BYTES
        )
        self.bytes_written = step.log_bytes
        self.truncated = False
        self.buffer = []
        self.pending_progress = None
        self.last_flush = time.monotonic()
        self.lock = threading.Lock()

    def mask(self, text: str) -> str:
        return mask_secrets(text, self.secrets)

    def add(self, level: str, message: object) -> None:
        if type(message) is not str:
            message = str(message)
        if len(message) > MAX_LINE_CHARS:
            message = message[:MAX_LINE_CHARS] + " …[line truncated]"
        # The stored size in UTF-8; an ASCII line (the common case) is as long as its text.
        size = (len(message) if message.isascii() else len(message.encode("utf-8", "replace"))) + 1
        with self.lock:
            if self.truncated:
                return
            if self.bytes_written + size > self.limit:
                self.truncated = True
                self.buffer.append(
                    ("WARN", f"[log truncated: this step's log reached {self.limit} bytes]")
                )
            else:
                self.bytes_written += size
                self.buffer.append((level, message))
            due = len(self.buffer) >= FLUSH_LINES
        if due:
            self.flush()

    def set_progress(self, pct: float) -> None:
        with self.lock:
            self.pending_progress = pct

    def flush_if_due(self) -> None:
        if time.monotonic() - self.last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        with self.lock:
            lines, self.buffer = self.buffer, []
            progress, self.pending_progress = self.pending_progress, None
            self.last_flush = time.monotonic()
            if not lines and progress is None:
                return
            try:
                self._write(lines, progress)
            except Exception:
                # Put the lines back so a later flush (after a database blip) keeps them.
                self.buffer = lines + self.buffer
                if progress is not None and self.pending_progress is None:
                    self.pending_progress = progress
                close_old_connections()
                raise

    def _write(self, lines, progress):
        if self.secrets:  # most jobs have none: then the lines are not looked at
            lines = [(level, self.mask(message)) for level, message in lines]
        step_id = self.step_id
        events = [
            {"kind": EventKind.LOG, "step_id": step_id, "level": level, "message": message}
            for level, message in lines
        ]
        fields = {"log_bytes": self.bytes_written}
        if progress is not None:
            fields["progress"] = progress
        with locked_job(self.job_id) as job:
            # A zombie attempt (its step was reclaimed) must not write into the stream:
            # the step's update is fenced on this attempt still running.
            step = StepRun.objects.filter(
                pk=self.step_pk, attempt=self.attempt, status=StepStatus.RUNNING
            )
            if job is None or not step.update(**fields):
                return
            if progress is not None:
                events.append(
                    {
                        "kind": EventKind.PROGRESS,
                        "step_id": self.step_id,
                        "data": {"step_progress": progress},
                    }
                )
                self._refine_job_progress(job, progress)
            record_events(job, events)

    def _refine_job_progress(self, job, step_progress):
        total = job.total_steps or 1
        pct = round(min(100.0, (job.completed_steps + step_progress / 100.0) / total * 100), 1)
        if pct > job.progress:
            Job.objects.filter(pk=job.pk, progress__lt=pct).update(progress=pct)
