"""The admin "cluster" page (SPEC §12): worker hosts and their last heartbeat, running
steps, queue depth and the age of the oldest queued step."""

from datetime import timedelta

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Min
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from jobs.checks import sandbox_off_message
from jobs.engine.pools import pool_overview
from jobs.engine.queue import broker_queue_size
from jobs.engine.states import StepStatus
from jobs.executors.sandbox import sandbox_mode
from jobs.models import StepRun, WorkerHost

STALE_AFTER = timedelta(seconds=30)


def cluster_health():
    now = timezone.now()
    hosts = list(WorkerHost.objects.order_by("host_id"))
    running = list(
        StepRun.objects.filter(status=StepStatus.RUNNING)
        .select_related("job")
        .order_by("started_at")[:100]
    )
    per_host = {}
    for step in running:
        per_host.setdefault(step.worker_id.split(":", 1)[0], []).append(step)
    oldest_queued = StepRun.objects.filter(status=StepStatus.QUEUED).aggregate(
        oldest=Min("queued_at")
    )["oldest"]
    return {
        "now": now,
        "hosts": [
            {
                "host": host,
                "alive": now - host.last_seen_at < STALE_AFTER,
                "running": per_host.get(host.host_id, []),
            }
            for host in hosts
        ],
        "running": running,
        "queued_steps": StepRun.objects.filter(status=StepStatus.QUEUED).count(),
        "broker_queue": broker_queue_size(),
        "oldest_queued_age": (now - oldest_queued) if oldest_queued else None,
        "pools": pool_overview(now),
    }


@staff_member_required
@require_GET
def cluster_page(request):
    # The admin's own context (header, user tools, nav), so the page looks like the admin.
    context = {
        **admin.site.each_context(request),
        "title": "Worker cluster",
        "sandbox": sandbox_mode(),
        "sandbox_off": sandbox_off_message() if sandbox_mode() == "off" else "",
        **cluster_health(),
    }
    return render(request, "admin/jobsite_cluster.html", context)
