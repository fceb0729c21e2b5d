"""The job page: status, progress, the run graph, step timeline and attempts, the log,
result, artifacts, variables and lineage — read from the job's event stream (SPEC §8, §9).

The page is rendered with the last event `seq` it read with the job row. The log viewer
(static/js/joblog.js) reads the log from jobs/views/job_log.py starting there, so a page
opened mid-run and followed to the end shows every line exactly once, in order (unless
it jumps ahead, which it says). A hidden htmx poller asks for the summary every second
(`?live=1&shown=<the log's seq>`): status, progress, steps and lineage come out of band,
and a finished job is drawn as finished only once the log has caught up; then the poller
comes back without a trigger and the polling stops by itself.
"""

from django.http import FileResponse, Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from jobs.engine.log_format import LEVELS, levels_at_least, log_events, log_line
from jobs.engine.states import JOB_ACTIVE, JOB_CAN_CANCEL, JOB_CAN_RERUN, JobStatus, StepStatus
from jobs.representation import outputs_to_dict
from jobs.views.charts import run_graph, step_timeline
from jobs.views.common import why_waiting, workers_seen
from jobs.views.forms import submission_token
from jobs.views.job_log import step_attempts
from jobs.views.permissions import job_for, member_required
from jobsite.models import Role

# Without JavaScript the page shows at most this many log lines (the download has them
# all); with it, the log viewer reads them from log.json.
PAGE_LOG_LINES = 2000


def log_filters(request, job):
    level = request.GET.get("level", "").upper()
    step = request.GET.get("step", "")
    return {
        "level": level if level in LEVELS else "",
        "step": step if step in {s["id"] for s in job.definition.get("steps", [])} else "",
    }


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


def summary_context(request, job, shown_status=None):
    steps = list(job.steps.all())
    attempts = step_attempts(job, steps)
    for step in steps:
        # Earlier attempts of a retried step, each with its own error (the step row
        # holds only the newest).
        step.earlier_attempts = [
            run for run in attempts.get(step.step_id, []) if run["attempt"] != step.attempt
        ]
    job.why_waiting = why_waiting(job, workers_seen()) if job.status == JobStatus.QUEUED else ""
    shown_status = shown_status or job.status
    return {
        "job": job,
        "shown_status": shown_status,
        "steps": steps,
        "timeline": step_timeline(job, steps),
        "graph": run_graph(job, steps),
        "is_active": shown_status in JOB_ACTIVE,
        "actions": actions_for(request, job),
        "submission": submission_token(request),
        "step_statuses": StepStatus,
        "declared_outputs": declared_outputs_shown(job),
    }


def declared_outputs_shown(job):
    """The finished job's declared outputs (SPEC §3) as the API gives them (secrets
    masked): [(name, value)], an artifact's as its name for a download link."""
    if not job.is_terminal or "outputs" not in job.definition:
        return []
    return list(outputs_to_dict(job).items())


@require_GET
@member_required
def job_detail(request, job_id):
    job = job_for(request, job_id)
    filters = log_filters(request, job)
    if request.htmx and "live" in request.GET:
        return job_live(request, job)
    # Everything up to the seq read with the job row is committed (seq is allocated
    # under the job's lock), so `after` = that seq leaves no gap for the poller.
    after = job.last_event_seq
    lines = log_events(job).filter(seq__lte=after)
    if filters["level"]:
        lines = lines.filter(level__in=levels_at_least(filters["level"]))
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
        log_query=log_query(filters),
    )
    return render(request, "jobs/job_detail.html", context)


def log_query(filters):
    return "".join(f"&{name}={value}" for name, value in filters.items() if value)


def job_live(request, job):
    """The summary poll: status, progress, steps, graph, lineage, actions and — once
    finished — the result, out of band. The log viewer fetches its lines itself
    (jobs/views/job_log.py) and sends the seq its tail has reached as `shown`: while that
    is older than the job's last event, a finished job is still shown as running, so the
    badge never says "succeeded" above a log that has not caught up (SPEC §9)."""
    try:
        shown = int(request.GET.get("shown", ""))
    except ValueError:
        shown = job.last_event_seq
    behind = job.is_terminal and shown < job.last_event_seq
    shown_status = JobStatus.RUNNING if behind else job.status
    previous_status = request.GET.get("status", "")
    context = summary_context(request, job, shown_status=shown_status)
    context.update(
        polling=shown_status in JOB_ACTIVE,
        status_changed=previous_status != shown_status,
        finished_now=previous_status != shown_status and job.is_terminal and not behind,
        artifacts=list(job.artifacts.all()) if job.is_terminal else [],
        lineage=lineage_of(job),
        reruns=list(job.reruns.order_by("created_at")),
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
        events = events.filter(level__in=levels_at_least(filters["level"]))
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
