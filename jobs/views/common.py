"""Small helpers shared by the page modules."""

from datetime import timedelta

from django.utils import timezone

from jobs.engine.states import JobStatus
from jobs.models import WorkerHost

WORKER_SEEN_WITHIN = timedelta(seconds=60)


def workers_seen():
    return WorkerHost.objects.filter(last_seen_at__gte=timezone.now() - WORKER_SEEN_WITHIN).exists()


def why_waiting(job, any_worker_seen):
    """One sentence on why a queued job has not started: the engine's own reason (a
    concurrency slot, a free worker), and a warning when no worker is alive at all."""
    if job.status != JobStatus.QUEUED:
        return ""
    reason = job.waiting_reason or "waiting for a free worker"
    if not any_worker_seen:
        return f"{reason}; no worker has been seen in the last minute (start one with manage.py worker)"
    return reason
