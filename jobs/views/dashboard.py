"""The dashboard: what runs now, what waits and why, what finished lately (SPEC §9)."""

from datetime import timedelta

from django.db.models import Count
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from jobs.checks import sandbox_off_message
from jobs.engine.states import JOB_ACTIVE, JOB_TERMINAL, JobStatus
from jobs.executors.sandbox import sandbox_mode
from jobs.views.charts import finished_per_hour
from jobs.views.common import why_waiting, workers_seen
from jobs.views.permissions import jobs_of, member_required

ACTIVE_SHOWN = 25
RECENT_SHOWN = 10


def live_context(request):
    jobs = jobs_of(request)
    since = timezone.now() - timedelta(hours=24)
    current = dict(
        jobs.filter(status__in=[JobStatus.DRAFT, *JOB_ACTIVE])
        .values_list("status")
        .annotate(n=Count("id"))
    )
    finished = dict(
        jobs.filter(status__in=JOB_TERMINAL, finished_at__gte=since)
        .values_list("status")
        .annotate(n=Count("id"))
    )
    counts = [
        {
            "status": status,
            "label": status.label,
            "n": (current if status in JOB_ACTIVE or status == JobStatus.DRAFT else finished).get(
                status, 0
            ),
        }
        for status in JobStatus
    ]
    active = list(
        jobs.filter(status__in=JOB_ACTIVE)
        .select_related("template")
        .order_by("status", "-created_at")[:ACTIVE_SHOWN]
    )
    seen = workers_seen()
    for job in active:
        job.why_waiting = why_waiting(job, seen)
    return {
        "counts": counts,
        "active_jobs": active,
        "active_total": sum(current.get(status, 0) for status in JOB_ACTIVE),
        "workers_seen": seen,
    }


def sandbox_warning_for(user) -> str:
    """For server staff, the one line saying the step sandbox is off (SPEC §13); else ""."""
    if not user.is_staff or sandbox_mode() != "off":
        return ""
    return sandbox_off_message()


@require_GET
@member_required
def dashboard(request):
    context = live_context(request)
    if request.htmx:
        return render(request, "jobs/dashboard.html#dashboard-live", context)
    jobs = jobs_of(request)
    context.update(
        recent_jobs=list(
            jobs.select_related("template").order_by("-created_at", "-id")[:RECENT_SHOWN]
        ),
        chart=finished_per_hour(jobs),
        has_templates=request.tenant.workspace.templates.filter(archived_at__isnull=True).exists(),
        sandbox_off=sandbox_warning_for(request.user),
    )
    return render(request, "jobs/dashboard.html", context)
