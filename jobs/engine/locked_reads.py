"""The engine's hot reads: a job under its row lock, and its steps.

Every claim and every finish of a step starts with these two reads. They are named
statements of jobs/queries.sql, run with a cursor and turned into instances with
Model.from_db (jobsite/named_sql.py): building them through the QuerySet API on every call
cost more CPU than the database's work (docs/benchmarks.md).

The job row comes with extras from the same statement: `has_webhooks` and
`has_notifications` (does its workspace have an active webhook endpoint, an active
notification channel: if not, no delivery query is needed) and its
workspace's slug (for `{{ workspace.slug }}`), set on the instance as a deferred
Workspace so that reading it costs no query.
"""

from uuid import UUID

from jobs.models import Job, StepRun
from jobs.models.automation import WebhookEndpoint
from jobsite.models import Workspace
from jobsite.named_sql import (
    connection_for,
    db_value,
    fetch,
    fetch_sets,
    model_from_row,
    statement,
)
from jobsite.sent_together import Statement

JOB_ID = Job._meta.pk
STEP_RUN_ID = StepRun._meta.pk


def read_locked_job(
    job_id: UUID | str | None = None,
    step_run_id: int | None = None,
    *,
    skip_locked: bool = False,
    with_steps: bool = False,
    look_elsewhere: bool = False,
) -> Job | None:
    """The job (by its id, or by the id of one of its steps) locked FOR UPDATE in the
    current transaction, or None. The caller holds a transaction. `skip_locked` (by a
    step only): None on PostgreSQL when another transaction holds the job's lock.
    `with_steps`: its steps too, as `job.step_runs` (read_steps), read after the lock is
    held — on PostgreSQL in the same round trip (jobsite/named_sql.py fetch_sets).
    `look_elsewhere` (PostgreSQL only; a finish that may take another job's step): the
    oldest queued steps of other jobs too, in that round trip, as `job.queued_elsewhere`
    (EagerClaim.take_other_job)."""
    if step_run_id is not None:
        name = "job_of_step_for_update_skip_locked" if skip_locked else "job_of_step_for_update"
        steps, look = "steps_of_job_of_step", "oldest_queued_steps_of_step"
        params = {"step_run_id": db_value(STEP_RUN_ID, step_run_id)}
    else:
        name, steps, look = "job_for_update", "steps_of_job", "oldest_queued_steps"
        params = {"job_id": db_value(JOB_ID, job_id)}
    look_elsewhere = look_elsewhere and connection_for(Job).vendor == "postgresql"
    names = [name] + [steps] * with_steps + [look] * look_elsewhere
    results = fetch_sets(names, Job, **params) if len(names) > 1 else [fetch(name, Job, **params)]
    rows = results[0]
    if not rows:
        return None
    row = rows[0]
    job = model_from_row(Job, row)
    job.has_webhooks = bool(row["has_webhooks"])
    job.has_notifications = bool(row["has_notifications"])
    job.workspace = Workspace.from_db(
        job._state.db, ["id", "slug"], [job.workspace_id, row["workspace_slug"]]
    )
    if with_steps:
        job.step_runs = _steps(job, results[1])
    if look_elsewhere:
        job.queued_elsewhere = results[-1]
    return job


def read_steps(job: Job) -> list[StepRun]:
    """The job's steps in their template order."""
    return _steps(job, fetch("steps_of_job", StepRun, job_id=db_value(JOB_ID, job.pk)))


# A section catches up on at most this many events of its job by reading only the steps
# they changed; further behind, it reads all of them (the events are scanned to find them).
CATCH_UP_EVENTS = 200


def current_steps(job: Job, known: Job) -> list[StepRun]:
    """The steps of the freshly locked `job`, given `known`: the job as this process left
    it at the end of its previous engine section (jobs/engine/transitions.py locked_job).

    Every status change of a step writes a `step.status` event, which moves the job's
    last_event_seq; the fields that change without one (the lease, log_bytes of the
    running step) are not read by the engine's sections. So when the seq has not moved,
    `known`'s steps are current; when other sections moved it — the siblings of a
    fan-out finished by another worker — only the steps named by the status events
    since are read again, and the others kept: a fan-out of 40 steps on two workers
    read all 41 rows again in every finish (docs/benchmarks.md, round 10)."""
    steps = getattr(known, "step_runs", None)
    behind = job.last_event_seq - known.last_event_seq
    if steps is None or known.pk != job.pk or not 0 <= behind <= CATCH_UP_EVENTS:
        return read_steps(job)
    if behind:
        rows = fetch(
            "steps_of_job_changed_since",
            StepRun,
            job_id=db_value(JOB_ID, job.pk),
            seq=known.last_event_seq,
        )
        changed = {step.pk: step for step in _steps(job, rows)}
        steps = [changed.pop(step.pk, step) for step in steps]
        if changed:  # a step not known before: read them all
            return read_steps(job)
    for step in steps:
        step.job = job
    return steps


def _steps(job: Job, rows: list[dict]) -> list[StepRun]:
    steps = [model_from_row(StepRun, row) for row in rows]
    for step in steps:
        step.job = job  # the instance we hold, so step.job costs no query
    return steps


def active_webhooks_check(workspace_id: UUID, jobs: list[Job]) -> Statement:
    """has_active_webhooks for `jobs`, created in this transaction in that workspace, as a
    statement not yet run: it sets their `has_webhooks` once it has. On PostgreSQL it
    goes to the server with their INSERTs, in one round trip (sent_together.run_together;
    docs/benchmarks.md, round 9d); the deliveries that need its answer come after."""
    connection = connection_for(WebhookEndpoint)
    sql = statement("workspace_has_active_webhook", connection.vendor)
    workspace_id = db_value(Workspace._meta.pk, workspace_id)

    def took(rows):
        for job in jobs:
            job.has_webhooks = bool(rows)

    return Statement(sql % {"workspace_id": "%s"}, [workspace_id], True, took)


def has_active_webhooks(workspace_id: UUID) -> bool:
    """Whether the workspace has an active webhook endpoint (for a job created in this
    transaction, which job_for_update has not read)."""
    return bool(
        fetch(
            "workspace_has_active_webhook",
            WebhookEndpoint,
            workspace_id=db_value(Workspace._meta.pk, workspace_id),
        )
    )
