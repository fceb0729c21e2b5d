"""Retention (SPEC §12): a workspace's `retention_days` deletes its finished jobs older
than that, with their step runs, events and artifact files.

Secrets go sooner (SPEC §15): JOBSITE_SECRET_RETENTION_DAYS after a job finished, its
sealed secret values are erased whatever the workspace keeps of the job (the page, the
log and the result stay, already masked). A rerun of such a job asks for its secrets
again."""

from datetime import timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from jobs.engine.states import JOB_TERMINAL
from jobs.models import Artifact, Job, Upload
from jobsite.models import Workspace

BATCH = 200


def prune_workspace(workspace, now=None):
    """Delete finished jobs of `workspace` older than its retention. Returns how many."""
    if not workspace.retention_days:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=workspace.retention_days)
    deleted = 0
    while True:
        ids = list(
            Job.objects.filter(
                workspace=workspace, status__in=JOB_TERMINAL, finished_at__lt=cutoff
            ).values_list("pk", flat=True)[:BATCH]
        )
        if not ids:
            return deleted
        files = list(Artifact.objects.filter(job_id__in=ids).values_list("file", flat=True))
        with transaction.atomic():
            Job.objects.filter(pk__in=ids).delete()  # step runs, events, artifact rows cascade
        delete_unshared_files(files)
        deleted += len(ids)


def delete_unshared_files(names):
    """A rerun that reused a step's artifacts points at the same file, and so does a
    job's input from an upload: keep files that surviving artifacts or unexpired uploads
    still use."""
    still_used = set(Artifact.objects.filter(file__in=names).values_list("file", flat=True))
    still_used |= set(Upload.objects.usable().filter(file__in=names).values_list("file", flat=True))
    for name in set(names) - still_used:
        if name:
            default_storage.delete(name)


def purge_secrets(now=None):
    """Erase the sealed secrets of jobs finished more than JOBSITE_SECRET_RETENTION_DAYS
    ago (0: keep them as long as the job). Returns how many jobs lost theirs."""
    days = settings.JOBSITE_SECRET_RETENTION_DAYS
    if not days:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    old = Job.objects.filter(status__in=JOB_TERMINAL, finished_at__lt=cutoff).exclude(
        sealed_secrets=""
    )
    purged = 0
    while ids := list(old.values_list("pk", flat=True)[:BATCH]):
        purged += Job.objects.filter(pk__in=ids).update(sealed_secrets="")
    return purged


def prune_all(now=None):
    purge_secrets(now)
    return sum(
        prune_workspace(ws, now) for ws in Workspace.objects.filter(retention_days__isnull=False)
    )
