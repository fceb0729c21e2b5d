"""Job and step statuses, and every transition allowed between them.

Importable without a database. The one writer (jobs/engine/transitions.py) refuses any change
that is not in these tables; terminal statuses have no way out.
"""

from django.db import models


class JobStatus(models.TextChoices):
    # Created but not started; `run` starts it.
    DRAFT = "draft", "Draft"
    # Start requested; waiting for a worker or for a concurrency slot (see waiting_reason).
    QUEUED = "queued", "Queued"
    # At least one step has been claimed by a worker.
    RUNNING = "running", "Running"
    # Every step succeeded or was skipped by design.
    SUCCEEDED = "succeeded", "Succeeded"
    # A step failed (or was lost) and the job stopped; the steps below it were skipped.
    FAILED = "failed", "Failed"
    # Some steps failed (continue_on_failure, or an independent branch), others succeeded.
    PARTIAL = "partial", "Partial"
    # Canceled by a user, the API, the job's timeout, or cancel_previous concurrency.
    CANCELED = "canceled", "Canceled"


class StepStatus(models.TextChoices):
    # Waiting for the steps it needs.
    PENDING = "pending", "Pending"
    # Ready and handed to the workers.
    QUEUED = "queued", "Queued"
    # Claimed by a worker, which holds a lease on it.
    RUNNING = "running", "Running"
    # A failed or lost attempt waiting for its backoff before the next one.
    RETRYING = "retrying", "Retrying"
    # Finished well.
    SUCCEEDED = "succeeded", "Succeeded"
    # Finished badly (non-zero exit, error, timeout) with no attempts left.
    FAILED = "failed", "Failed"
    # Never ran: a step it needs failed, or the job was canceled before it started.
    SKIPPED = "skipped", "Skipped"
    # Killed while running because the job was canceled.
    CANCELED = "canceled", "Canceled"
    # Its worker died and the step is not idempotent, so it is not run again.
    LOST = "lost", "Lost"


J, S = JobStatus, StepStatus

JOB_TRANSITIONS = {
    J.DRAFT: {J.QUEUED, J.CANCELED},
    J.QUEUED: {J.RUNNING, J.CANCELED, J.SUCCEEDED, J.FAILED, J.PARTIAL},
    J.RUNNING: {J.SUCCEEDED, J.FAILED, J.PARTIAL, J.CANCELED},
    J.SUCCEEDED: set(),
    J.FAILED: set(),
    J.PARTIAL: set(),
    J.CANCELED: set(),
}

STEP_TRANSITIONS = {
    S.PENDING: {S.QUEUED, S.SKIPPED, S.SUCCEEDED},  # SUCCEEDED: reused by a "rerun failed"
    S.QUEUED: {S.RUNNING, S.SKIPPED, S.CANCELED},
    S.RUNNING: {S.SUCCEEDED, S.FAILED, S.RETRYING, S.CANCELED, S.LOST},
    S.RETRYING: {S.QUEUED, S.SKIPPED, S.CANCELED, S.FAILED},
    S.SUCCEEDED: set(),
    S.FAILED: set(),
    S.SKIPPED: set(),
    S.CANCELED: set(),
    S.LOST: set(),
}

JOB_TERMINAL = frozenset({J.SUCCEEDED, J.FAILED, J.PARTIAL, J.CANCELED})
JOB_ACTIVE = frozenset({J.QUEUED, J.RUNNING})
JOB_CAN_CANCEL = frozenset({J.DRAFT, J.QUEUED, J.RUNNING})
JOB_CAN_RERUN = JOB_TERMINAL

STEP_TERMINAL = frozenset({S.SUCCEEDED, S.FAILED, S.SKIPPED, S.CANCELED, S.LOST})
STEP_UNFINISHED = frozenset({S.PENDING, S.QUEUED, S.RUNNING, S.RETRYING})
# A step that ended badly; whether the job fails depends on continue_on_failure.
STEP_BROKEN = frozenset({S.FAILED, S.LOST, S.CANCELED})


def job_transition_allowed(old: str, new: str) -> bool:
    return new in JOB_TRANSITIONS.get(old, ())


def step_transition_allowed(old: str, new: str) -> bool:
    return new in STEP_TRANSITIONS.get(old, ())
