"""How a job moves: queue steps whose needs are met, skip what a failure blocks, start,
cancel and finish the job (SPEC §5, §7). Every status change goes through
jobs/engine/transitions.py.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.utils import timezone

from jobs.engine.concurrency import (
    WAITING_FOR_WORKER,
    ConcurrencyRejected,
    concurrency_key,
    concurrency_settings,
    describe_wait,
    lock_scope,
    slot_holders,
)
from jobs.engine.queue import enqueue_step, enqueue_steps
from jobs.engine.result import build_result
from jobs.engine.states import STEP_BROKEN, STEP_TERMINAL, JobStatus, StepStatus
from jobs.engine.transitions import (
    change_job_status,
    change_step_status,
    locked_job,
    step_queued_message,
)
from jobs.models import Job, StepRun
from jobsite.named_sql import db_value, execute_or_hold

if TYPE_CHECKING:
    from jobs.engine.steps import EagerClaim

log = logging.getLogger(__name__)

J, S = JobStatus, StepStatus


def steps_of(job: Job) -> list[StepRun]:
    """The job's steps, in order: the list the engine's lock query brought, if it did."""
    steps = getattr(job, "step_runs", None)
    return steps if steps is not None else list(job.steps.all())


def step_of(job: Job, step_run_id: int) -> StepRun | None:
    return next((step for step in steps_of(job) if step.pk == step_run_id), None)


def step_definition(job: Job, step_id: str) -> dict:
    for spec in job.definition.get("steps", []):
        if spec["id"] == step_id:
            return spec
    return {}


# --- moving a job forward ---------------------------------------------------------------


def _need_is_satisfied(need):
    # A failed step with continue_on_failure lets its dependents run, as GitHub Actions'
    # continue-on-error does.
    return need.status == S.SUCCEEDED or (need.status in STEP_BROKEN and need.continue_on_failure)


def _need_blocks(need):
    return need.status == S.SKIPPED or (need.status in STEP_BROKEN and not need.continue_on_failure)


def queue_step(
    job: Job,
    step: StepRun,
    *,
    message: str = "",
    eager: EagerClaim | None = None,
    doorbells: list[tuple[int, int, str]] | None = None,
) -> bool:
    """pending/retrying → queued with the next attempt number, and ring the doorbell —
    unless `eager` (a jobs.engine.steps.EagerClaim) takes the step for the finishing
    worker, in this same transaction. With `doorbells`, the step is added to it for
    the caller to enqueue with the others (enqueue_steps: at most K a pool)."""
    next_attempt = step.attempt + 1
    # One compare-and-set, fenced on the old status and attempt, moves both the status
    # and the attempt number, so every later write is fenced on the new attempt.
    queued = change_step_status(
        job,
        step,
        S.QUEUED,
        attempt=step.attempt,
        attempt_number=next_attempt,
        message=message or step_queued_message(step, next_attempt),
        queued_at=timezone.now(),
        next_attempt_at=None,
        worker_id="",
    )
    if queued and not (eager is not None and eager.take(job, step)):
        if eager is not None:
            eager.enqueued.add(step.pk)
        if doorbells is None:
            enqueue_step(step.pk, next_attempt, step.pool)
        else:
            doorbells.append((step.pk, next_attempt, step.pool))
    return queued


def advance_job(job: Job, *, eager: EagerClaim | None = None) -> None:
    """Under the job's lock: queue steps whose needs are met, skip steps below a failure,
    and finalize the job when nothing is left to run. `eager` (from finish_step) may
    claim one of the newly queued steps for the finishing worker."""
    steps = steps_of(job)
    by_id = {step.step_id: step for step in steps}
    doorbells: list[tuple[int, int, str]] = []

    if job.cancel_requested_at:
        for step in steps:
            if step.status in (S.PENDING, S.QUEUED, S.RETRYING):
                change_step_status(
                    job, step, S.SKIPPED, message=f"Step {step.step_id} skipped: job canceled"
                )
    elif job.status == J.RUNNING or (job.status == J.QUEUED and not _waiting_for_slot(job)):
        changed = True
        while changed:  # skips cascade down the graph
            changed = False
            for step in steps:
                if step.status != S.PENDING:
                    continue
                needs = [by_id[name] for name in step.needs]
                if any(_need_blocks(need) for need in needs):
                    blocker = next(need.step_id for need in needs if _need_blocks(need))
                    changed |= change_step_status(
                        job,
                        step,
                        S.SKIPPED,
                        message=f"Step {step.step_id} skipped: {blocker} did not succeed",
                    )
                elif all(_need_is_satisfied(need) for need in needs):
                    # Only here, where the job holds its concurrency slot (running, or
                    # queued and not waiting for one), may a step be claimed eagerly.
                    changed |= queue_step(job, step, eager=eager, doorbells=doorbells)
        enqueue_steps(doorbells)

    if all(step.status in STEP_TERMINAL for step in steps):
        finalize_job(job, steps)  # writes the progress with the final status
    else:
        update_progress(job, steps)


def steps_ready_at_start(steps: list[StepRun]) -> list[StepRun]:
    """The steps advance_job queues when a new job starts: those that need nothing."""
    return [step for step in steps if step.status == S.PENDING and not step.needs]


def _waiting_for_slot(job):

    return job.waiting_reason not in ("", WAITING_FOR_WORKER)


def progress_of(job: Job, steps: list[StepRun]) -> tuple[float, int]:
    """(percent, completed steps) of a job. Completed means succeeded (a step reused by a
    rerun is succeeded too): a failed, skipped or canceled step is finished but not done,
    so a job that failed never reads 100 %. While the job runs, the percentage never goes
    backwards."""
    total = len(steps) or 1
    completed = sum(1 for step in steps if step.status == S.SUCCEEDED)
    running = sum(step.progress for step in steps if step.status == S.RUNNING) / 100.0
    pct = round(min(100.0, (completed + running) / total * 100), 1)
    return max(pct, job.progress), completed


def final_progress(status: str, steps: list[StepRun]) -> float:
    """The percentage a job ends with: 100 when it succeeded, else the share of its steps
    that succeeded — what the steps show, and below 100 even when every step succeeded
    and the job was canceled after the last one."""
    if status == J.SUCCEEDED:
        return 100.0
    total = len(steps) or 1
    completed = sum(1 for step in steps if step.status == S.SUCCEEDED)
    return min(round(completed / total * 100, 1), 99.0)


def update_progress(job: Job, steps: list[StepRun]) -> None:
    pct, completed = progress_of(job, steps)
    if pct != job.progress or completed != job.completed_steps:
        execute_or_hold(
            "save_job_progress",
            Job,
            1,
            job_id=db_value(Job._meta.pk, job.pk),
            progress=pct,
            completed_steps=completed,
        )
        job.progress, job.completed_steps = pct, completed


def final_status(job: Job, steps: list[StepRun]) -> str:
    if job.cancel_requested_at or any(step.status == S.CANCELED for step in steps):
        return J.CANCELED
    broken = [step for step in steps if step.status in STEP_BROKEN]
    if not broken:
        return J.SUCCEEDED
    if all(step.continue_on_failure for step in broken):
        return J.PARTIAL
    # A hard failure: partial when an independent branch still reached its end.
    needed = {name for step in steps for name in step.needs}
    sinks = [step for step in steps if step.step_id not in needed]
    if any(step.status == S.SUCCEEDED for step in sinks):
        return J.PARTIAL
    return J.FAILED


def finalize_job(job: Job, steps: list[StepRun]) -> bool:
    status = final_status(job, steps)
    error = job.error
    if status == J.FAILED and not error:
        first = next(
            step for step in steps if step.status in STEP_BROKEN and not step.continue_on_failure
        )
        error = f"step {first.step_id} {first.status}: {first.error}".rstrip(": ")
    elif status == J.CANCELED and not error:
        error = "canceled"
    markdown, outputs = build_result(job, steps)
    now = timezone.now()
    _, completed = progress_of(job, steps)
    changed = change_job_status(
        job,
        status,
        message=f"Job {status}",
        finished_at=now,
        error=error,
        result_markdown=markdown,
        result_outputs=outputs,
        progress=final_progress(status, steps),
        completed_steps=completed,
        waiting_reason="",
    )
    if not changed:
        update_progress(job, steps)
    return changed


# --- starting and canceling --------------------------------------------------------------


def start_locked_job(job: Job) -> bool:
    """draft → queued, then take a concurrency slot and queue the ready steps — or wait
    for a slot, or refuse (ConcurrencyRejected). The caller holds the job's lock."""

    if job.status != J.DRAFT:
        return False
    key = concurrency_key(job)
    if key:
        job.concurrency_key = key
        Job.objects.filter(pk=job.pk).update(concurrency_key=key)
        verdict = claim_slot(job)
        if verdict == "reject":
            raise ConcurrencyRejected(f"concurrency limit reached: {job.waiting_reason}")
        if verdict == "wait":
            return change_job_status(
                job,
                J.QUEUED,
                message=f"Job queued, {job.waiting_reason}",
                queued_at=timezone.now(),
                waiting_reason=job.waiting_reason,
            )
    if not change_job_status(
        job,
        J.QUEUED,
        message="Job queued",
        queued_at=timezone.now(),
        waiting_reason=WAITING_FOR_WORKER,
    ):
        return False
    advance_job(job)
    return True


def claim_slot(job: Job) -> str:
    """'go', 'wait' or 'reject' for a job whose template limits concurrency. Sets
    job.waiting_reason when it must wait. With cancel_previous, the holders are told to
    stop and the job waits for them to end."""

    settings = concurrency_settings(job)
    lock_scope(job)
    holders = list(slot_holders(job).values_list("pk", flat=True))
    if len(holders) < int(settings.get("limit", 1)):
        job.waiting_reason = ""
        return "go"
    job.waiting_reason = describe_wait(job, holders)
    when_full = settings.get("when_full", "queue")
    if when_full == "reject":
        return "reject"
    if when_full == "cancel_previous":
        for holder_id in holders:
            with locked_job(holder_id) as holder:
                if holder and not holder.is_terminal:
                    cancel_locked_job(
                        holder, reason=f"canceled by a newer job {job.pk} (cancel_previous)"
                    )
        job.waiting_reason = f"waiting for {len(holders)} previous job(s) to stop (cancel_previous)"
    return "wait"


def start_waiting_jobs() -> int:
    """Dispatcher duty: jobs queued behind a concurrency limit take a freed slot, oldest
    first. Returns how many started."""
    started = 0
    waiting = (
        Job.objects.filter(status=J.QUEUED, cancel_requested_at__isnull=True)
        .exclude(waiting_reason__in=["", WAITING_FOR_WORKER])
        .order_by("queued_at")
        .values_list("pk", flat=True)
    )
    for job_id in list(waiting[:200]):
        with locked_job(job_id) as job:
            if (
                job is None
                or job.status != J.QUEUED
                or job.waiting_reason in ("", WAITING_FOR_WORKER)
            ):
                continue
            verdict = claim_slot(job)
            if verdict == "go":
                Job.objects.filter(pk=job.pk).update(waiting_reason=WAITING_FOR_WORKER)
                job.waiting_reason = WAITING_FOR_WORKER
                advance_job(job)
                started += 1
            elif (
                job.waiting_reason
                != Job.objects.filter(pk=job.pk).values_list("waiting_reason", flat=True).first()
            ):
                Job.objects.filter(pk=job.pk).update(waiting_reason=job.waiting_reason)
    return started


def cancel_locked_job(job: Job, *, force: bool = False, reason: str = "canceled") -> bool:
    """Cancel a locked job. Draft and queued jobs end at once; running steps are told at
    their next heartbeat, or marked canceled right away with `force`."""
    now = timezone.now()
    if job.is_terminal:
        return False
    if not job.cancel_requested_at:
        Job.objects.filter(pk=job.pk).update(
            cancel_requested_at=now, error=reason if reason != "canceled" else ""
        )
        job.cancel_requested_at = now
        if reason != "canceled":
            job.error = reason
    if job.status == J.DRAFT:
        for step in steps_of(job):
            change_step_status(
                job, step, S.SKIPPED, message=f"Step {step.step_id} skipped: job canceled"
            )
        return change_job_status(
            job, J.CANCELED, message="Job canceled", finished_at=now, error=job.error or "canceled"
        )
    if force:
        for step in [step for step in steps_of(job) if step.status == S.RUNNING]:
            change_step_status(
                job,
                step,
                S.CANCELED,
                message=f"Step {step.step_id} canceled (forced)",
                error="canceled (forced)",
                finished_at=now,
                lease_expires_at=None,
            )
    advance_job(job)
    return True
