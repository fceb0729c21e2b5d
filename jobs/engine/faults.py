"""The dispatcher's duties (SPEC §7 fault rules): reap expired leases, queue due retries,
requeue steps the broker lost, cancel jobs past their timeout.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from jobs.engine.lifecycle import (
    advance_job,
    cancel_locked_job,
    queue_step,
)
from jobs.engine.queue import doorbells, doorbells_per_call, enqueue_step, enqueue_steps
from jobs.engine.states import JobStatus, StepStatus
from jobs.engine.transitions import change_step_status, locked_job
from jobs.models import Job, StepRun

log = logging.getLogger(__name__)

J, S = JobStatus, StepStatus


# --- the dispatcher's duties -----------------------------------------------------------


def reap_expired_leases(now: datetime | None = None) -> int:
    """Running steps whose worker stopped renewing: retry an idempotent step that has
    attempts left, else mark it lost. Returns how many steps were reaped."""
    now = now or timezone.now()
    reaped = 0
    expired = StepRun.objects.filter(status=S.RUNNING, lease_expires_at__lt=now).values_list(
        "pk", "job_id", "attempt"
    )
    for step_pk, job_id, attempt in list(expired[:500]):
        with locked_job(job_id) as job:
            step = job.steps.filter(
                pk=step_pk, status=S.RUNNING, attempt=attempt, lease_expires_at__lt=now
            ).first()
            if step is None:
                continue
            if step.idempotent and step.attempt < step.max_attempts and not job.cancel_requested_at:
                done = change_step_status(
                    job,
                    step,
                    S.RETRYING,
                    attempt=attempt,
                    level="WARN",
                    message=f"Step {step.step_id} lost its worker ({step.worker_id}); retrying",
                    error="worker lost",
                    next_attempt_at=now,
                    lease_expires_at=None,
                )
            else:
                done = change_step_status(
                    job,
                    step,
                    S.LOST,
                    attempt=attempt,
                    level="ERROR",
                    message=f"Step {step.step_id} lost: its worker ({step.worker_id}) stopped responding",
                    error="worker lost",
                    finished_at=now,
                    lease_expires_at=None,
                )
                if done and not job.error:
                    job.error = f"step {step.step_id}: worker lost"
                    Job.objects.filter(pk=job.pk).update(error=job.error)
            if done:
                reaped += 1
                advance_job(job)
    return reaped


def enqueue_due_retries(now: datetime | None = None) -> int:
    now = now or timezone.now()
    count = 0
    due = StepRun.objects.filter(status=S.RETRYING, next_attempt_at__lte=now).values_list(
        "pk", "job_id"
    )
    for step_pk, job_id in list(due[:500]):
        with locked_job(job_id) as job:
            step = job.steps.filter(pk=step_pk, status=S.RETRYING).first()
            if step is None:
                continue
            if job.cancel_requested_at:
                advance_job(job)
                continue
            count += queue_step(
                job, step, message=f"Step {step.step_id} retrying (attempt {step.attempt + 1})"
            )
    return count


def requeue_vanished_steps(
    queue_size: int | None,
    older_than_seconds: float = 10,
    now: datetime | None = None,
    pool: str | None = None,
) -> int:
    """Queued steps nobody is coming for: when the broker holds nothing but steps have
    been waiting, ring again. Duplicates are harmless — only one claim can win. With
    `pool`, only that pool's steps (queue_size is then the size of that pool's queue).

    With eager dispatch a queued step need not have a doorbell of its own (enqueue_steps
    rings at most K a pool, and the workers that answer go down the queue): a task lost
    with its broker, a worker killed mid-chain or a chain that stopped all leave steps
    with none. So each pass rings the K oldest stale steps of each pool — oldest first,
    as the workers take them — and nothing more while those K wait in the queue; their
    queued_at is left as it is, so a long backlog keeps its order (a step rung again is
    not sent to the back of it). Without eager dispatch, one doorbell a stale step, and
    its queued_at moved on so it is not rung again while its task waits."""
    if queue_size is None or queue_size > 0:
        return 0
    now = now or timezone.now()
    stale = StepRun.objects.filter(
        status=S.QUEUED, queued_at__lt=now - timedelta(seconds=older_than_seconds)
    ).order_by("queued_at")
    if pool is not None:
        stale = stale.filter(pool=pool)
    eager = settings.JOBSITE_EAGER_DISPATCH
    limit = doorbells_per_call() if eager and pool is not None else 500
    rows = list(stale.values_list("pk", "attempt", "pool")[:limit])
    if eager:
        rung = doorbells(rows)  # at most K a pool
        enqueue_steps(rung)
        return len(rung)
    for step_pk, attempt, step_pool in rows:
        enqueue_step(step_pk, attempt, step_pool)
        StepRun.objects.filter(pk=step_pk, status=S.QUEUED, attempt=attempt).update(queued_at=now)
    return len(rows)


def cancel_timed_out_jobs(now: datetime | None = None) -> int:
    now = now or timezone.now()
    count = 0
    running = Job.objects.filter(
        status=J.RUNNING, timeout_seconds__isnull=False, cancel_requested_at__isnull=True
    )
    for job_id, started_at, timeout in running.values_list("pk", "started_at", "timeout_seconds")[
        :500
    ]:
        if started_at and started_at + timedelta(seconds=timeout) < now:
            with locked_job(job_id) as job:
                count += cancel_locked_job(job, reason=f"timed out after {timeout} s")
    return count
