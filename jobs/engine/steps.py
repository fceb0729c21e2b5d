"""A step's attempt: claim it, renew its lease, record its outcome (SPEC §7).

Worker entry points (jobs/worker/step_runner.py) call these; each is fenced on the
attempt number, so a late or duplicate delivery changes nothing.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from django.conf import settings
from django.utils import timezone

from jobs.engine.lifecycle import advance_job, step_definition, step_of, steps_of
from jobs.engine.queue import enqueue_step, enqueue_steps
from jobs.engine.states import JobStatus, StepStatus
from jobs.engine.transitions import (
    change_step_and_job_status,
    change_step_status,
    locked_job,
    second_locked_job,
)
from jobs.models import Job, StepRun
from jobsite.named_sql import db_value, fetch

if TYPE_CHECKING:
    from jobs.executors.base import Outcome

log = logging.getLogger(__name__)

J, S = JobStatus, StepStatus


def lease_expiry() -> datetime:
    return timezone.now() + timedelta(seconds=settings.JOBSITE_LEASE_SECONDS)


def claim_step(
    step_run_id: int, attempt: int, worker_id: str, pools: list[str] | None = None
) -> tuple[Job, StepRun] | None:
    """Claim a queued step for this worker: queued → running, fenced on the attempt.

    Returns (job, step) when the claim won, None for a duplicate or stale delivery. With
    `pools` (this host's), a step of another pool is not claimed: its task is sent to
    its own pool's queue instead (a task can only land here by a misconfigured queue).

    A doorbell whose step is no longer queued at its attempt — taken by a finishing
    worker (EagerClaim), or a duplicate — is answered by one unlocked read, without
    taking the job's lock (or, on SQLite, the database's write lock)."""
    if not step_is_queued(step_run_id, attempt):
        return None
    with locked_job(step_run_id=step_run_id, engine=True) as job:
        step = step_of(job, step_run_id) if job else None
        if step is None or step.status != S.QUEUED or step.attempt != attempt:
            return None
        if pools is not None and step.pool not in pools:
            log.warning(
                "step %s is in pool %s, not in this host's %s: sent to its pool",
                step.pk,
                step.pool,
                pools,
            )
            enqueue_step(step.pk, attempt, step.pool)
            return None
        if not claim_locked_step(job, step, attempt, worker_id):
            return None
        return job, step


def claim_oldest_queued_step(worker_id: str, pools: list[str]) -> tuple[Job, StepRun] | None:
    """For a doorbell whose own step was already taken: claim the oldest queued step of
    one of `pools` instead, so that an idle worker joins a busy one going down the queue
    rather than answering, behind it, doorbells of steps it has already run. None when
    nothing is queued (two unlocked reads, then, for the whole doorbell)."""
    for row in of_pools(fetch("oldest_queued_steps_of_any_job", StepRun), pools):
        if row["pool"] in pools:
            claimed = claim_step(row["id"], row["attempt"], worker_id, pools=pools)
            if claimed is not None:
                return claimed
    return None


def step_is_queued(step_run_id: int, attempt: int) -> bool:
    """Whether the step is queued at `attempt` now (no lock: "no" is final, "yes" is
    checked again under the lock by the claim)."""
    return bool(
        fetch(
            "step_is_queued",
            StepRun,
            step_run_id=db_value(StepRun._meta.pk, step_run_id),
            attempt=attempt,
        )
    )


def claim_locked_step(job: Job, step: StepRun, attempt: int, worker_id: str) -> bool:
    """queued → running for `worker_id`, under the job's lock: the compare-and-set on the
    status and the attempt (the fence), a lease, and the job running. False when the
    step is not queued at that attempt, or the job is ending."""
    if step.status != S.QUEUED or step.attempt != attempt:
        return False
    if job.cancel_requested_at or job.is_terminal:
        return False
    now = timezone.now()
    claim = {
        "attempt": attempt,
        "message": f"Step {step.step_id} started (attempt {attempt}) on {worker_id}",
        "started_at": now,
        "worker_id": worker_id,
        "lease_expires_at": lease_expiry(),
        "heartbeat_at": now,
    }
    if job.status != J.QUEUED:
        return change_step_status(job, step, S.RUNNING, **claim)
    # the job's first running step starts it, in the same round trip on PostgreSQL
    return change_step_and_job_status(
        job,
        step,
        S.RUNNING,
        J.RUNNING,
        job_message="Job started",
        job_fields={"started_at": now, "waiting_reason": ""},
        **claim,
    )


def always(step: StepRun) -> bool:
    return True


class EagerClaim:
    """Eager dispatch (SPEC §7, generalized): the finishing worker takes ONE next step,
    in the same transaction, with a normal claim (lease, attempt fence, worker id,
    running), and runs it at once instead of waiting for a doorbell. In order:

    1. a step its finish made ready (the next step of a chain) — it is never enqueued;
    2. else a step of the same job that is already queued (a fan-out's sibling);
    3. else the oldest queued step of another job (`take_other_job`).

    A step taken in 2 or 3 may still have its task in the broker; that doorbell then
    finds it running and is answered by one unlocked read (claim_step).

    `may_run_here(step)` says whether this worker may run the step at all: the hook for
    worker pools (SPEC §14), and for anything else that keeps a step off this worker;
    `pools` (this host's) skips other pools' steps in 3 before their job is locked.
    `hand_off` (a draining host) takes nothing at all.

    A queued step need not have a doorbell of its own (enqueue_steps rings at most K a
    pool), so a worker that stops here while queued steps it saw are left — refused by
    may_run_here, their job locked by another transaction, or the host draining — rings
    their doorbells before its transaction ends (`ring_passed_over`). Another pool's
    steps in 3 are left to that pool's workers (each enqueue rang at least one there)."""

    def __init__(
        self,
        worker_id: str,
        may_run_here: Callable[[StepRun], bool] = always,
        pools: list[str] | None = None,
        *,
        hand_off: bool = False,
    ) -> None:
        self.worker_id = worker_id
        self.may_run_here = may_run_here
        self.pools = pools
        self.hand_off = hand_off
        self.step: StepRun | None = None
        self.job: Job | None = None
        self.passed_over: dict[int, tuple[int, int, str]] = {}
        self.enqueued: set[int] = set()  # queued by this finish, their doorbells handled

    def pass_over(self, step_run_id: int, attempt: int, pool: str) -> None:
        self.passed_over[step_run_id] = (step_run_id, attempt, pool)

    def take(self, job: Job, step: StepRun) -> bool:
        """Claim the queued `step` of the locked `job` for this worker, if none was taken
        yet."""
        if self.step is not None:
            return False
        if self.hand_off or not self.may_run_here(step):
            self.pass_over(step.pk, step.attempt, step.pool)
            return False
        if claim_locked_step(job, step, step.attempt, self.worker_id):
            self.step, self.job = step, job
            return True
        return False

    def take_queued(self, job: Job) -> bool:
        """Claim a step of the locked `job` that is queued and not taken yet."""
        return any(self.take(job, step) for step in steps_of(job) if step.status == S.QUEUED)

    def take_other_job(self, job: Job) -> bool:
        """Claim the oldest queued step of a job other than the locked `job`, locking
        that job too (skipped, never waited for, when another transaction holds it)."""
        rows = getattr(job, "queued_elsewhere", None)  # read with the lock (PostgreSQL)
        if rows is None:
            rows = fetch("oldest_queued_steps", StepRun, job_id=db_value(Job._meta.pk, job.pk))
        for row in of_pools(rows, self.pools, exclude_job=job.pk):
            if self.pools is not None and row["pool"] not in self.pools:
                continue  # its own pool's workers take it
            if self.hand_off:
                self.pass_over(row["id"], row["attempt"], row["pool"])
                continue
            with second_locked_job(row["id"], within=job) as other:
                step = step_of(other, row["id"]) if other else None
                if other is None:  # its job is another transaction's: ring for it
                    self.pass_over(row["id"], row["attempt"], row["pool"])
                elif step is not None and step.status == S.QUEUED and self.take(other, step):
                    return True
        return False

    def take_any(self, job: Job) -> None:
        """After the finish's own newly ready steps were offered: 2, then 3; then, when
        nothing was taken, the doorbells of what was passed over."""
        if self.step is None and not self.take_queued(job):
            self.take_other_job(job)
        self.ring_passed_over()

    def ring_passed_over(self) -> None:
        if self.step is None:
            enqueue_steps(item for pk, item in self.passed_over.items() if pk not in self.enqueued)


def of_pools(rows: list[dict], pools: list[str] | None, exclude_job=None) -> list[dict]:
    """The oldest queued steps read (four rows of any pool), or, when none of them is of
    `pools` and there may be more, the oldest queued steps of `pools` (not of the job
    `exclude_job`): a backlog of another pool must not hide this host's work from it."""
    if pools is None or len(rows) < 4 or any(row["pool"] in pools for row in rows):
        return rows
    mine = StepRun.objects.filter(status=S.QUEUED, pool__in=pools).order_by("queued_at")
    if exclude_job is not None:
        mine = mine.exclude(job_id=exclude_job)
    return [*rows, *mine.values("id", "pool", "attempt")[:4]]


def renew_lease(step_run_id: int, attempt: int) -> bool:
    """Extend a running step's lease. False when the step is no longer this attempt's
    (it was reaped, canceled by force, or finished by someone else)."""
    now = timezone.now()
    return bool(
        StepRun.objects.filter(pk=step_run_id, status=S.RUNNING, attempt=attempt).update(
            lease_expires_at=lease_expiry(), heartbeat_at=now
        )
    )


def cancel_requested(job_id: UUID) -> bool:
    return Job.objects.filter(pk=job_id, cancel_requested_at__isnull=False).exists()


def retry_delay(step: StepRun, definition_step: dict) -> float:
    """Exponential backoff with jitter: backoff × 2^(attempt-1), ±20 %."""
    base = float(definition_step.get("retry_backoff", 2.0)) * (2 ** max(step.attempt - 1, 0))
    return base * random.uniform(0.8, 1.2)


def finish_step(
    step_run_id: int,
    attempt: int,
    outcome: Outcome,
    *,
    stop_reason: str | None = None,
    eager: EagerClaim | None = None,
    known: Job | None = None,
) -> bool:
    """Record an attempt's outcome and move the job on. Fenced: a late or stale attempt
    changes nothing. Returns True when the outcome was recorded.

    With `eager`, one step this finish makes ready is claimed for eager.worker_id in the
    same transaction (eager.step, and eager.job its job as read under the lock) instead of
    being enqueued — or, when it makes none ready, an already queued step of this or
    another job (EagerClaim). `known`: the job as the claim (or the eager claim) left it, whose
    steps are reused if nothing changed them since (locked_job)."""
    with locked_job(
        step_run_id=step_run_id, engine=True, known=known, look_elsewhere=eager is not None
    ) as job:
        step = step_of(job, step_run_id) if job else None
        if step is None or step.status != S.RUNNING or step.attempt != attempt:
            return False
        now = timezone.now()
        common = {"finished_at": now, "lease_expires_at": None, "exit_code": outcome.exit_code}
        if outcome.status == "succeeded":
            recorded = change_step_status(
                job,
                step,
                S.SUCCEEDED,
                attempt=attempt,
                outputs=outcome.outputs,
                error="",
                progress=100.0,
                **common,
            )
        elif stop_reason == "canceled" or job.cancel_requested_at:
            recorded = change_step_status(
                job, step, S.CANCELED, attempt=attempt, error="canceled", level="WARN", **common
            )
        else:
            error = outcome.error or "failed"
            definition_step = step_definition(job, step.step_id)
            if step.attempt < step.max_attempts:
                delay = retry_delay(step, definition_step)
                recorded = change_step_status(
                    job,
                    step,
                    S.RETRYING,
                    attempt=attempt,
                    message=f"Step {step.step_id} attempt {attempt} failed: {error}; retrying in {delay:.1f} s",
                    level="WARN",
                    error=error,
                    outputs=outcome.outputs,
                    next_attempt_at=now + timedelta(seconds=delay),
                    **common,
                )
            else:
                recorded = change_step_status(
                    job,
                    step,
                    S.FAILED,
                    attempt=attempt,
                    message=f"Step {step.step_id} failed: {error}",
                    level="ERROR",
                    error=error,
                    outputs=outcome.outputs,
                    **common,
                )
        if recorded:
            advance_job(job, eager=eager)
            if eager is not None:
                eager.take_any(job)
        return recorded
