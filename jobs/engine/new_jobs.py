"""Writing new jobs, one or a thousand, in a number of statements that does not grow
with how many.

`create_job` (one job) and `POST jobs/batch/` (many) both end here, with jobs that
jobs.services.prepare_job validated and built in memory. In one transaction: one INSERT
for the jobs, one for their steps — the jobs that start already queued, with their first
steps queued, through transitions.py's insert_new_jobs — one for their events, one for
their input files, and one enqueue of their steps' tasks. A job whose template limits
concurrency is started the usual way instead (start_locked_job, one job after the other:
each takes a slot or waits for one).
"""

from dataclasses import dataclass, field

from django.db import transaction

from jobs.engine.concurrency import WAITING_FOR_WORKER, concurrency_settings
from jobs.engine.lifecycle import start_locked_job, steps_ready_at_start
from jobs.engine.locked_reads import active_webhooks_check
from jobs.engine.queue import enqueue_steps
from jobs.engine.transitions import insert_new_jobs, new_job_section
from jobs.models import Artifact, Job


@dataclass
class NewJob:
    """A validated job not yet written: `job` is unsaved, its unsaved steps are in
    `job.step_runs`; `input_files` maps input names to the artifacts it shares."""

    job: Job
    start: bool = True
    input_files: dict[str, Artifact] = field(default_factory=dict)


def shared_artifact(artifact: Artifact, job: Job, *, step_id: str, name: str) -> Artifact:
    """An unsaved Artifact row of `job` pointing at `artifact`'s stored file (not a copy)."""
    return Artifact(
        job=job,
        step_id=step_id,
        name=name,
        file=artifact.file.name,
        size=artifact.size,
        sha256=artifact.sha256,
        content_type=artifact.content_type,
    )


def save_new_jobs(new_jobs: list[NewJob]) -> list[Job]:
    """Write `new_jobs` (and start those marked so) in one transaction; their jobs, in
    order, each with its steps in `step_runs` and its input files in `input_artifacts`.
    A ConcurrencyRejected from a limited job's start rolls all of them back."""
    jobs = [new.job for new in new_jobs]
    # Started in bulk: the new jobs whose template sets no concurrency limit.
    bulk = {
        new.job.pk: steps_ready_at_start(new.job.step_runs)
        for new in new_jobs
        if new.start and not concurrency_settings(new.job)
    }
    # Whether each workspace of a started job has an active webhook endpoint, asked with
    # the INSERTs (one round trip on PostgreSQL); a job of any other workspace: no.
    for job in jobs if bulk else ():
        job.has_webhooks = False
    checks = [
        active_webhooks_check(
            workspace_id, [job for job in jobs if job.workspace_id == workspace_id]
        )
        for workspace_id in {job.workspace_id for job in jobs if job.pk in bulk}
    ]
    with transaction.atomic():
        insert_new_jobs(jobs, bulk, waiting_reason=WAITING_FOR_WORKER, first=checks)
        inputs = Artifact.objects.bulk_create(
            shared_artifact(artifact, new.job, step_id="", name=name)
            for new in new_jobs
            for name, artifact in new.input_files.items()
        )
        for job in jobs:
            job.input_artifacts = []
        for artifact in inputs:
            artifact.job.input_artifacts.append(artifact)
        for new in new_jobs:
            if new.start and new.job.pk not in bulk:
                with new_job_section(new.job, new.job.step_runs):
                    start_locked_job(new.job)
        enqueue_steps(
            (step.pk, step.attempt, step.pool) for steps in bulk.values() for step in steps
        )
    return jobs
