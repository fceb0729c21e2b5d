"""The one writer of job and step status.

Every status change in jobsite goes through change_job_status or change_step_status:
each checks the transition table in jobs/engine/states.py, applies a compare-and-set on the old
status (and, for steps, on the attempt number — the fence against zombie workers), and
writes a JobEvent in the same transaction. Zero rows updated means someone else got
there first; that is not an error.

All writers of one job take that job's row lock first (locked_job), so changes to a job
and its steps are serialized and always acquire locks in the same order.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from jobs.automation.notifications import record_notifications
from jobs.automation.webhooks import (
    JOB_EVENTS,
    record_event_deliveries,
    record_jobs_event_deliveries,
)
from jobs.engine.events import (
    flush_events,
    flush_with,
    insert_first_events,
    record_events,
    start_event_buffer,
)
from jobs.engine.locked_reads import current_steps, has_active_webhooks, read_locked_job
from jobs.engine.states import (
    JobStatus,
    StepStatus,
    job_transition_allowed,
    step_transition_allowed,
)
from jobs.models import EventKind, Job, StepRun
from jobsite.named_inserts import insert_statements
from jobsite.named_sql import (
    connection_for,
    db_save_values,
    db_value,
    execute_or_hold,
    fetch_written,
)
from jobsite.sent_together import holding_writes

# The compare-and-sets of a job's usual life have a named statement each in
# jobs/queries.sql, found by the fields they set: building each UPDATE through the ORM
# cost about 0.2 ms of CPU, six times per one-step job (docs/benchmarks.md, round 2b).
# Any other set of fields, or a value that is an expression, goes through the ORM.
JOB_UPDATES = {
    frozenset({"queued_at", "waiting_reason"}): "queue_job",
    frozenset({"started_at", "waiting_reason"}): "start_job_running",
    frozenset(
        {
            "finished_at",
            "progress",
            "completed_steps",
            "error",
            "waiting_reason",
            "result_markdown",
            "result_outputs",
        }
    ): "finish_job",
}
STEP_UPDATES = {
    frozenset({"attempt", "queued_at", "next_attempt_at", "worker_id"}): "queue_step",
    frozenset({"started_at", "worker_id", "lease_expires_at", "heartbeat_at"}): "claim_step",
    frozenset(
        {"finished_at", "exit_code", "error", "outputs", "progress", "lease_expires_at"}
    ): "finish_step",
}


def _statement_for(updates, fields):
    name = updates.get(frozenset(fields))
    if name is None or any(hasattr(value, "resolve_expression") for value in fields.values()):
        return None
    return name


def _set_job_status(job, old, values, fields):
    """UPDATE the job's row to `values` if its status is still `old`; rows changed. (It
    was read under its lock: the compare-and-set cannot miss, and may be held.)"""
    if (name := _statement_for(JOB_UPDATES, fields)) is None:
        return Job.objects.filter(pk=job.pk, status=old).update(**values)
    params = db_save_values(Job, values)
    return execute_or_hold(name, Job, 1, id=db_value(Job._meta.pk, job.pk), old_status=old, **params)  # fmt: skip


def _set_step_status(step, old, fence, values, fields):
    """UPDATE the step's row to `values` if its status and attempt are still `old` and
    `fence`; rows changed."""
    if (name := _statement_for(STEP_UPDATES, fields)) is None:
        return StepRun.objects.filter(pk=step.pk, status=old, attempt=fence).update(**values)
    params = db_save_values(StepRun, values)
    params.update(id=db_value(StepRun._meta.pk, step.pk), old_status=old, fence=fence)
    # A stale attempt's changes nothing: it is not held, and its count is read.
    return execute_or_hold(name, StepRun, 1 if fence == step.attempt else None, **params)


class TransitionRefused(Exception):
    """A change the transition table does not allow (e.g. cancelling a finished job)."""


@contextmanager
def locked_job(
    job_id: UUID | None = None,
    *,
    step_run_id: int | None = None,
    engine: bool = False,
    known: Job | None = None,
    look_elsewhere: bool = False,
) -> Iterator[Job | None]:
    """A transaction holding the job's row lock; yields the freshly read job (or None).

    `step_run_id` finds the job by one of its steps, in the same query. `engine=True`
    is for the engine's own short sections (claim, finish, start, cancel): the job's
    steps are read too (the list `job.step_runs`), and the section's events are written
    in one INSERT when it ends instead of one per status change.

    `known`: the job as this process left it at the end of its previous engine section
    (a worker finishing the step it claimed). Its steps are reused, and only those whose
    status changed since read again (locked_reads.current_steps). The job row itself is
    always read fresh.

    `look_elsewhere`: read_locked_job's, for a finish that may take another job's step."""
    with transaction.atomic():
        # With nothing known, the steps are read with the lock (one round trip on
        # PostgreSQL); else after it, only if the known ones are out of date.
        job = read_locked_job(
            job_id,
            step_run_id,
            with_steps=engine and known is None,
            look_elsewhere=engine and look_elsewhere,
        )
        if job is None or not engine:
            yield job
            return
        if known is not None:
            job.step_runs = current_steps(job, known)
        with holding_writes(connection_for(Job, write=True)):
            start_event_buffer(job)
            yield job
            flush_events(job)


@contextmanager
def second_locked_job(step_run_id: int, within: Job) -> Iterator[Job | None]:
    """Inside a transaction that already holds one job's lock (an engine section), the
    job of step `step_run_id` as locked_job(engine=True) gives it — locked, with its steps
    and its own event buffer, written with `within`'s (the section's job) when that
    section ends (flush_with) — or None when there is no
    such job or (PostgreSQL) another transaction holds its lock: a second lock is never
    waited for, so two sections each holding one job cannot deadlock."""
    job = read_locked_job(step_run_id=step_run_id, skip_locked=True, with_steps=True)
    if job is None:
        yield None
        return
    start_event_buffer(job)
    flush_with(within, job)
    yield job


@contextmanager
def new_job_section(job: Job, steps: list[StepRun]) -> Iterator[Job]:
    """For a job created in the current transaction with `steps`: locked_job(engine=True)
    without reading back what the caller just wrote (no other transaction sees it yet)."""
    job.step_runs = list(steps)
    job.has_webhooks = has_active_webhooks(job.workspace_id)
    start_event_buffer(job)
    yield job
    flush_events(job)


def change_job_status(job: Job, new: str, *, message: str = "", **fields: object) -> bool:
    """Move a locked job to `new`. Returns False when the table forbids it or the row
    has moved on."""
    old = job.status
    if not job_transition_allowed(old, new):
        return False
    now = timezone.now()
    # The event's seq is written with the status, in the same UPDATE (one query less on
    # every job transition); the event row follows in this transaction.
    seq = job.last_event_seq + 1
    updated = _set_job_status(
        job, old, {"status": new, "updated_at": now, "last_event_seq": seq, **fields}, fields
    )
    if not updated:
        return False
    _job_changed(job, old, new, now, message, fields)
    return True


def _job_changed(job: Job, old: str, new: str, now, message: str, fields: dict) -> None:
    """What follows a job's compare-and-set that changed its row (which carried the seq)."""
    job.status = new
    job.updated_at = now
    for name, value in fields.items():
        setattr(job, name, value)
    record_events(job, [job_status_event(old, new, message)], seq_saved=True)
    if new in JOB_EVENTS:
        record_event_deliveries(job, JOB_EVENTS[new])
        record_notifications(job, JOB_EVENTS[new])


def change_step_status(
    job: Job,
    step: StepRun,
    new: str,
    *,
    attempt: int | None = None,
    attempt_number: int | None = None,
    message: str = "",
    level: str = "",
    **fields: object,
) -> bool:
    """Move a step of a locked job to `new`, fenced on its current status and attempt.

    `attempt` is the attempt the caller believes it holds; a worker whose attempt was
    reclaimed passes its old number and changes nothing. `attempt_number` moves the step
    to a new attempt in the same compare-and-set (when it is queued again)."""
    old = step.status
    if not step_transition_allowed(old, new):
        return False
    fence = step.attempt if attempt is None else attempt
    if attempt_number is not None:
        fields["attempt"] = attempt_number
    updated = _set_step_status(step, old, fence, {"status": new, **fields}, fields)
    if not updated:
        return False
    _step_changed(job, step, old, new, message, level, fields)
    return True


def _step_changed(job, step, old, new, message, level, fields) -> None:
    """What follows a step's compare-and-set that changed its row."""
    step.status = new
    for name, value in fields.items():
        setattr(step, name, value)
    record_events(
        job, [step_status_event(step, old, new, message, level=level, error=fields.get("error"))]
    )
    if new == StepStatus.FAILED:
        record_event_deliveries(job, "step.failed", step)
        record_notifications(job, "step.failed", step)


# A step's compare-and-set and then its job's, as one statement on PostgreSQL (a CTE in
# jobs/queries.sql: the job's UPDATE runs only when the step's changed its row, and
# both row counts come back): one round trip instead of two (docs/benchmarks.md, round 8b).
STEP_AND_JOB_UPDATES = {("claim_step", "start_job_running"): "claim_step_and_start_job"}


def change_step_and_job_status(
    job: Job,
    step: StepRun,
    new: str,
    new_job: str,
    *,
    attempt: int,
    message: str,
    job_message: str,
    job_fields: dict,
    **fields: object,
) -> bool:
    """change_step_status(job, step, new, …) and, only when it changed the step,
    change_job_status(job, new_job, …): the same compare-and-sets, fences, events and
    deliveries, in that order. Returns whether the step changed."""
    old, old_job = step.status, job.status
    pair = (_statement_for(STEP_UPDATES, fields), _statement_for(JOB_UPDATES, job_fields))
    name = STEP_AND_JOB_UPDATES.get(pair)
    buffered = getattr(job, "_event_buffer", None) is not None  # the seq goes as buffered
    if name is None or not buffered or connection_for(Job, write=True).vendor != "postgresql":
        if not change_step_status(job, step, new, attempt=attempt, message=message, **fields):
            return False
        change_job_status(job, new_job, message=job_message, **job_fields)
        return True
    if not step_transition_allowed(old, new) or not job_transition_allowed(old_job, new_job):
        return change_step_status(job, step, new, attempt=attempt, message=message, **fields)
    now = timezone.now()
    # the seq of the step's event, then of the job's
    job_values = {"status": new_job, "updated_at": now, "last_event_seq": job.last_event_seq + 2}
    job_values.update(job_fields)
    (row,) = fetch_written(
        name,
        Job,
        id=db_value(StepRun._meta.pk, step.pk),
        old_status=old,
        fence=attempt,
        **db_save_values(StepRun, {"status": new, **fields}),
        job_id=db_value(Job._meta.pk, job.pk),
        job_old_status=old_job,
        **{f"job_{key}": value for key, value in db_save_values(Job, job_values).items()},
    )
    if not row["steps"]:
        return False
    _step_changed(job, step, old, new, message, "", fields)
    if row["jobs"]:
        _job_changed(job, old_job, new_job, now, job_message, job_fields)
    return True


def job_status_event(old: str, new: str, message: str = "") -> dict:
    """The event of a job's move from `old` to `new` (change_job_status, insert_new_jobs)."""
    return {
        "kind": EventKind.JOB_STATUS,
        "message": message or f"Job {new}",
        "data": {"from": old, "to": new},
    }


def step_status_event(
    step: StepRun, old: str, new: str, message: str = "", *, level: str = "", error: str = ""
) -> dict:
    """The event of a step's move from `old` to `new` at its current attempt
    (change_step_status, insert_new_jobs)."""
    data = {"from": old, "to": new, "attempt": step.attempt}
    if error:
        data["error"] = error
    return {
        "kind": EventKind.STEP_STATUS,
        "step_id": step.step_id,
        "level": level,
        "message": message or f"Step {step.step_id} {new}",
        "data": data,
    }


def step_queued_message(step: StepRun, attempt: int) -> str:
    return f"Step {step.step_id} queued (attempt {attempt})"


def insert_new_jobs(
    jobs: list[Job], started: dict[UUID, list[StepRun]], *, waiting_reason: str, first=()
) -> None:
    """Insert jobs made in the current transaction — unsaved instances, their unsaved
    steps in `job.step_runs` — with one INSERT for the jobs and one for the steps, however
    many there are.

    A job in `started` goes in already moved draft → queued (with `waiting_reason`), and
    the steps listed for it pending → queued on their next attempt: the rows, the events
    (seq 1, 2, … of each job, all in one INSERT) and the deliveries are the ones that
    inserting the draft and then calling change_job_status and change_step_status would
    make, without an UPDATE per row. The other jobs go in as they are (drafts). The
    caller enqueues their queued steps, and sets `has_webhooks` on the started jobs, or
    gives the statements that do in `first` (run before the INSERTs, with them)."""
    now = timezone.now()
    for job in jobs:
        to_queue = started.get(job.pk)
        if to_queue is None:
            continue
        old = job.status
        refused = [step.step_id for step in to_queue if not step_transition_allowed(step.status, StepStatus.QUEUED)]  # fmt: skip
        if not job_transition_allowed(old, JobStatus.QUEUED) or refused:
            raise TransitionRefused(f"job is {old}; only a new draft can be started this way")
        start_event_buffer(job)
        job.status, job.queued_at, job.waiting_reason, job.updated_at = (
            JobStatus.QUEUED, now, waiting_reason, now
        )  # fmt: skip
        events = [job_status_event(old, JobStatus.QUEUED)]
        for step in to_queue:
            old_step, step.attempt = step.status, step.attempt + 1
            step.status, step.queued_at, step.next_attempt_at, step.worker_id = (
                StepStatus.QUEUED, now, None, ""
            )  # fmt: skip
            events.append(
                step_status_event(
                    step, old_step, StepStatus.QUEUED, step_queued_message(step, step.attempt)
                )
            )
        record_events(job, events)  # into the buffer; the row carries the last seq
    started_jobs = [job for job in jobs if job.pk in started]
    # The jobs, their steps and their events: on PostgreSQL one round trip for the three
    # INSERTs, which do not depend on each other's answer (docs/benchmarks.md, round 8a).
    rows = [*first, *insert_statements(Job, jobs)]
    rows += insert_statements(StepRun, [step for job in jobs for step in job.step_runs])
    insert_first_events(started_jobs, after=rows)
    record_jobs_event_deliveries(started_jobs, JOB_EVENTS[JobStatus.QUEUED])
    for job in started_jobs:
        record_notifications(job, JOB_EVENTS[JobStatus.QUEUED])
