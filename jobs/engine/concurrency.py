"""Concurrency limits of a template (SPEC §3 `settings.concurrency`).

A job holds a slot from the moment its steps are handed to the workers until it ends.
Jobs over the limit either wait (`queue`, with a human waiting_reason), are refused
(`reject`), or make the running ones stop (`cancel_previous`). The key is rendered from
the job's variables, so `key: "{{ vars.region }}"` limits each region separately.
"""

from django.db.models import QuerySet

from jobs.engine.states import JobStatus
from jobs.engine.transitions import TransitionRefused
from jobs.models import Job
from jobsite.models import Workspace
from templates_app.definition import SubstitutionError, render
from templates_app.models import JobTemplate

WAITING_FOR_WORKER = "waiting for a free worker"


class ConcurrencyRejected(TransitionRefused):
    """The template's limit is reached and it says `when_full: reject`."""


def concurrency_settings(job: Job) -> dict | None:
    return (job.definition.get("settings") or {}).get("concurrency") or None


def concurrency_key(job: Job) -> str:
    """The job's slot key, or "" when its template sets no limit."""
    settings = concurrency_settings(job)
    if not settings:
        return ""
    try:
        rendered = render(
            settings.get("key") or "",
            {
                "vars": job.variables,
                "job": {"id": str(job.pk), "name": job.name},
                "workspace": {"slug": job.workspace.slug},
            },
        )
    except SubstitutionError:
        rendered = ""
    scope = f"template:{job.template_id}" if job.template_id else f"recipe:{job.pk}"
    return f"{scope}:{rendered}"


def lock_scope(job: Job) -> None:
    """Serialize slot decisions for one template: lock its row (or the workspace's)."""
    if job.template_id:
        JobTemplate.objects.select_for_update().filter(pk=job.template_id).first()
    else:
        Workspace.objects.select_for_update().filter(pk=job.workspace_id).first()


def slot_holders(job: Job) -> QuerySet[Job]:
    return Job.objects.filter(
        workspace_id=job.workspace_id,
        concurrency_key=job.concurrency_key,
        status__in=[JobStatus.QUEUED, JobStatus.RUNNING],
        waiting_reason__in=["", WAITING_FOR_WORKER],
    ).exclude(pk=job.pk)


def describe_wait(job: Job, holders: list[Job]) -> str:
    settings = concurrency_settings(job)
    shown_key = job.concurrency_key.split(":", 2)[-1]
    running = len(holders)
    noun = "job" if running == 1 else "jobs"
    suffix = f" with key {shown_key}" if shown_key else ""
    return f"waiting for a slot: {running} {noun} running{suffix} (limit {settings['limit']})"
