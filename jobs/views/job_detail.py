"""The job page: status, progress, step timeline, live log tail, result, artifacts,
variables and lineage — read from the job's event stream (SPEC §8, §9).

The page is rendered with the last event `seq` it shows; while the job is active a
poller asks for the events after it once a second and appends the new log lines, so a
page opened mid-run and followed to the end shows every line exactly once, in order. The
same response swaps the status, progress and steps out of band and carries the poller
with the new `after`; once the job is finished the poller comes back without a trigger
and the polling stops by itself.
"""

from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from jobs.engine.log_format import log_events, log_line
from jobs.engine.states import JOB_ACTIVE, JOB_CAN_CANCEL, JOB_CAN_RERUN, JobStatus, StepStatus
from jobs.models import EventKind
from jobs.views.charts import step_timeline
from jobs.views.common import why_waiting, workers_seen
from jobs.views.forms import submission_token
from jobs.views.permissions import job_for, member_required
from jobsite.models import Role

LEVELS = ("DEBUG", "INFO", "WARN", "ERROR")
# The page shows at most this many log lines when it is first drawn (the download has
# them all); a poll returns at most this many events, the next poll takes the rest.
PAGE_LOG_LINES = 2000
POLL_EVENTS = 1000


def log_filters(request, job):
    level = request.GET.get("level", "").upper()
    step = request.GET.get("step", "")
    return {
        "level": level if level in LEVELS else "",
        "step": step if step in {s["id"] for s in job.definition.get("steps", [])} else "",
    }


def filter_log(events, filters):
    levels = set(LEVELS[LEVELS.index(filters["level"]) :]) if filters["level"] else None
    return [
        event
        for event in events
        if event.kind == EventKind.LOG
        and (levels is None or event.level in levels)
        and (not filters["step"] or event.step_id == filters["step"])
    ]


def actions_for(request, job):
    """The buttons this user may press on this job now (an empty list for a viewer)."""
    if not request.tenant.can(Role.OPERATOR):
        return {}
    actions = {
        "run": job.status == JobStatus.DRAFT,
        "cancel": job.status in JOB_CAN_CANCEL,
        "rerun": job.status in JOB_CAN_RERUN,
        "rerun_failed": job.status in (JobStatus.FAILED, JobStatus.PARTIAL, JobStatus.CANCELED),
        "rerun_edit": job.status in JOB_CAN_RERUN,
    }
    return {name: True for name, allowed in actions.items() if allowed}


def summary_context(request, job):
    steps = list(job.steps.all())
    job.why_waiting = why_waiting(job, workers_seen()) if job.status == JobStatus.QUEUED else ""
    return {
        "job": job,
        "steps": steps,
        "timeline": step_timeline(job, steps),
        "is_active": job.status in JOB_ACTIVE,
        "actions": actions_for(request, job),
        "submission": submission_token(request),
        "step_statuses": StepStatus,
    }


@require_GET
@member_required
def job_detail(request, job_id):
    job = job_for(request, job_id)
    filters = log_filters(request, job)
    if request.htmx and "after" in request.GET:
        return job_live(request, job, filters)
    # Everything up to the seq read with the job row is committed (seq is allocated
    # under the job's lock), so `after` = that seq leaves no gap for the poller.
    after = job.last_event_seq
    lines = log_events(job).filter(seq__lte=after)
    if filters["level"]:
        lines = lines.filter(level__in=LEVELS[LEVELS.index(filters["level"]) :])
    if filters["step"]:
        lines = lines.filter(step_id=filters["step"])
    # One row more than the page tells whether earlier lines exist, without counting a
    # log that may hold millions of lines (1 s on PostgreSQL at a million).
    newest = list(lines.order_by("-seq")[: PAGE_LOG_LINES + 1])
    more_lines = len(newest) > PAGE_LOG_LINES
    shown = list(reversed(newest[:PAGE_LOG_LINES]))
    context = summary_context(request, job)
    context.update(
        log_lines=shown,
        more_lines=more_lines,
        after=after,
        filters=filters,
        levels=LEVELS,
        step_ids=[s["id"] for s in job.definition.get("steps", [])],
        lineage=lineage_of(job),
        reruns=list(job.reruns.order_by("created_at")),
        artifacts=list(job.artifacts.all()),
        variables=variables_shown(job),
        polling=job.status in JOB_ACTIVE,
    )
    return render(request, "jobs/job_detail.html", context)


def job_live(request, job, filters):
    """The poll: new log lines to append, plus the live regions out of band."""
    try:
        after = max(int(request.GET.get("after", "0")), 0)
    except ValueError:
        after = 0
    # The job row first, then the events: if the row says "finished", every event up
    # to the final one is already committed and this response carries them.
    events = list(job.events.filter(seq__gt=after).order_by("seq")[:POLL_EVENTS])
    more = len(events) == POLL_EVENTS
    new_after = events[-1].seq if events else after
    previous_status = request.GET.get("status", "")
    context = summary_context(request, job)
    context.update(
        log_lines=filter_log(events, filters),
        after=new_after,
        filters=filters,
        polling=job.status in JOB_ACTIVE or more,
        status_changed=previous_status != job.status,
        finished_now=previous_status != job.status and job.is_terminal,
        artifacts=list(job.artifacts.all()) if job.is_terminal else [],
    )
    return render(request, "jobs/job_detail.html#job-live", context)


def lineage_of(job, limit=20):
    """The jobs this one reran, oldest first (at most `limit` of them)."""
    chain, current = [], job.original_job
    while current is not None and len(chain) < limit:
        chain.append(current)
        current = current.original_job
    return list(reversed(chain))


def variables_shown(job):
    declared = job.definition.get("variables", {})
    masked = job.masked_variables()
    return [
        {
            "name": name,
            "value": masked.get(name),
            "type": declared.get(name, {}).get("type", ""),
            "secret": declared.get(name, {}).get("type") == "secret",
        }
        for name in masked
    ]


@require_GET
@member_required
def job_log_download(request, job_id):
    """The whole log as text, `LEVEL: [step] message` per line (the API's format)."""
    job = job_for(request, job_id)
    filters = log_filters(request, job)
    events = log_events(job)
    if filters["level"]:
        events = events.filter(level__in=LEVELS[LEVELS.index(filters["level"]) :])
    if filters["step"]:
        events = events.filter(step_id=filters["step"])
    lines = (log_line(event) + "\n" for event in events.iterator(chunk_size=2000))
    response = StreamingHttpResponse(lines, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="job-{job.pk}.log"'
    return response


@require_GET
@member_required
def artifact_download(request, job_id, name):
    """An artifact, always as a download: a file a step wrote must never be rendered as
    a page of this site."""
    job = job_for(request, job_id)
    artifact = get_object_or_404(job.artifacts, name=name)
    try:
        handle = artifact.file.open("rb")
    except FileNotFoundError:
        raise Http404("The artifact's file is gone from storage.") from None
    filename = artifact.name.replace('"', "")
    response = FileResponse(
        handle, as_attachment=True, filename=filename, content_type=artifact.content_type
    )
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response
