"""How a job looks on the way out: one set of plain functions (healthchecks'
`Check.to_dict()` is the model) for every API answer that shows a job — the list, the
job, the 201 of POST jobs/ and rerun/, run/, cancel/, status/, the artifact list — and
for the `data` of webhook deliveries. The DRF serializers of jobs/api/serializers.py
only describe these shapes for the OpenAPI schema (tests/api/test_schema.py checks
that the two agree).

Secrets need no masking here: they are masked at the source (jobsite/secrets.py) — a job
stores its secret variables and params as "***", and the worker masks every log line,
error and output before it is stored — so what these functions read is already masked,
and the web side never decrypts a secret.

Each function takes model instances and reads only what it shows, so a caller may hand
it instances read any way: the ORM (jobs/api/job_detail_views.py), a named statement of
jobs/queries.sql (jobs/api/lean_reads.py) or the instances create_job just made.
"""

import uuid
from collections.abc import Callable
from datetime import datetime
from operator import attrgetter

from django.conf import settings
from django.http import HttpRequest
from django.urls import NoReverseMatch, get_script_prefix, reverse
from django.utils import timezone

from jobs.engine.states import JOB_TERMINAL
from jobs.models import Artifact, Job, StepRun
from jobsite.secrets import masked_values

# --- values --------------------------------------------------------------------------------


def datetime_formatter() -> Callable[[datetime | None], str | None]:
    """format_datetime, with the current time zone looked up once (a job and its steps
    carry a dozen timestamps)."""
    zone = timezone.get_current_timezone() if settings.USE_TZ else None

    def format_datetime(value: datetime | None) -> str | None:
        if value is None:
            return None
        if zone is not None and value.tzinfo is not None:
            value = value.astimezone(zone)
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return format_datetime


def format_datetime(value: datetime | None) -> str | None:
    """A timestamp as the whole API writes it (DRF's DateTimeField with its defaults):
    ISO 8601 in the current time zone, "Z" for UTC."""
    return datetime_formatter()(value)


def duration_ms(
    started_at: datetime | None, finished_at: datetime | None, now: datetime
) -> int | None:
    if not started_at:
        return None
    return int(((finished_at or now) - started_at).total_seconds() * 1000)


def masked_params(job: Job) -> dict:
    """Per-step params, secret ones reading "***" (as stored; kept for rows written
    before secrets were sealed)."""
    declared = {step["id"]: step.get("params") or {} for step in job.definition.get("steps", [])}
    return {
        step_id: masked_values(declared.get(step_id, {}), values)
        if isinstance(values, dict)
        else values
        for step_id, values in (job.params or {}).items()
    }


# --- links -----------------------------------------------------------------------------------

# The job's links are its API path plus a suffix: two reverse() calls per script prefix,
# then string replacement, instead of ten reverse() calls per answer.
LINK_SUFFIXES = {
    "self": "",
    "status": "status/",
    "events": "events/",
    "logs": "logs/",
    "result": "result/",
    "artifacts": "artifacts/",
    "run": "run/",
    "cancel": "cancel/",
    "rerun": "rerun/",
}
_link_paths = {}


def _path_templates() -> tuple[str, str, str]:
    stand_in = str(uuid.uuid4())
    try:
        ui_path = reverse("job-detail", args=[stand_in])
    except NoReverseMatch:
        ui_path = f"/jobs/{stand_in}/"
    return stand_in, reverse("api-job-detail", args=[stand_in]), ui_path


def job_links(request: HttpRequest, job_id: uuid.UUID) -> dict[str, str]:
    """The job's API links and its page in the web UI, as absolute URLs."""
    prefix = get_script_prefix()
    paths = _link_paths.get(prefix)
    if paths is None:
        paths = _link_paths[prefix] = _path_templates()
    stand_in, api_path, ui_path = paths
    job_id = str(job_id)
    base = request.build_absolute_uri(api_path.replace(stand_in, job_id))
    links = {name: base + suffix for name, suffix in LINK_SUFFIXES.items()}
    links["ui"] = request.build_absolute_uri(ui_path.replace(stand_in, job_id))
    return links


# --- the job ---------------------------------------------------------------------------------


def progress_to_dict(job: Job) -> dict:
    return {
        "percentage": job.progress,
        "completed_steps": job.completed_steps,
        "total_steps": job.total_steps,
    }


def template_to_dict(job: Job) -> dict | None:
    """The template the job runs ({id, slug, version}); reads job.template and
    job.template_version, which the caller has loaded."""
    if job.template_id is None:
        return None
    version = job.template_version.number if job.template_version_id else None
    return {"id": str(job.template_id), "slug": job.template.slug, "version": version}


def job_summary_to_dict(
    job: Job,
    request: HttpRequest,
    *,
    now: datetime | None = None,
    when=None,
) -> dict:
    """A job in a list: everything but its params, inputs, steps, artifacts and result.
    (`now` and `when`, a datetime_formatter, when the caller has them.)"""
    when = when or datetime_formatter()
    return {
        "id": str(job.pk),
        "workspace_id": str(job.workspace_id),
        "name": job.name,
        "type": job.type,
        "template": template_to_dict(job),
        "status": job.status,
        "trigger": job.trigger,
        "created_by": job.created_by,
        "variables": job.masked_variables(),
        "created_at": when(job.created_at),
        "updated_at": when(job.updated_at),
        "queued_at": when(job.queued_at),
        "started_at": when(job.started_at),
        "finished_at": when(job.finished_at),
        "duration_ms": duration_ms(job.started_at, job.finished_at, now or timezone.now()),
        "error": job.error or None,
        "waiting_reason": job.waiting_reason or None,
        "progress": progress_to_dict(job),
        "original_job_id": str(job.original_job_id) if job.original_job_id is not None else None,
        "attempt": job.attempt,
        "last_event_seq": job.last_event_seq,
        "links": job_links(request, job.pk),
    }


def job_to_dict(
    job: Job, request: HttpRequest, *, steps: list[StepRun], artifacts: list[Artifact]
) -> dict:
    """The whole job (SPEC §6.3), with its `steps` (any order: shown in the template's)
    and its `artifacts` (shown by name)."""
    now = timezone.now()
    when = datetime_formatter()
    data = job_summary_to_dict(job, request, now=now, when=when)
    data["params"] = masked_params(job)
    data["inputs"] = (
        None if job.inputs is None else {str(name): value for name, value in job.inputs.items()}
    )
    data["callback_url"] = job.callback_url or None
    data["steps"] = [
        step_to_dict(step, now, when) for step in sorted(steps, key=attrgetter("position"))
    ]
    data["artifacts"] = [
        artifact_to_dict(artifact, request, when)
        for artifact in sorted(artifacts, key=attrgetter("name"))
    ]
    data["result"] = result_to_dict(job)
    data["outputs"] = outputs_to_dict(job)
    return data


def result_to_dict(job: Job) -> dict | None:
    """The job's result once it has finished; None before."""
    if job.status not in JOB_TERMINAL:
        return None
    return {
        "markdown": job.result_markdown,
        "outputs": outputs_to_dict(job),
    }


def outputs_to_dict(job: Job) -> dict:
    """The job's outputs (SPEC §3): its declared `outputs` resolved when it ended, or,
    when it declares none, every step's outputs by step id; {} until it ends."""
    if job.status not in JOB_TERMINAL:
        return {}
    return job.result_outputs or {}


def step_to_dict(step: StepRun, now: datetime, when=format_datetime) -> dict:
    return {
        "id": step.step_id,
        "type": step.type,
        "status": step.status,
        "attempt": step.attempt,
        "needs": None if step.needs is None else [str(need) for need in step.needs],
        "queued_at": when(step.queued_at),
        "started_at": when(step.started_at),
        "finished_at": when(step.finished_at),
        "duration_ms": duration_ms(step.started_at, step.finished_at, now),
        "exit_code": step.exit_code,
        "error": step.error or None,
        "outputs": step.outputs or {},
        "worker": step.worker_id or None,
        "reused": step.reused_from_id is not None,
        "pool": step.pool,
        "waiting_reason": step.waiting_reason or None,
    }


def artifact_to_dict(artifact: Artifact, request: HttpRequest, when=format_datetime) -> dict:
    return {
        "name": artifact.name,
        "step": artifact.step_id or None,
        "size": artifact.size,
        "sha256": artifact.sha256,
        "content_type": artifact.content_type,
        "created_at": when(artifact.created_at),
        "url": request.build_absolute_uri(
            reverse("api-job-artifact", args=[artifact.job_id, artifact.name])
        ),
    }


def job_status_to_dict(job: Job) -> dict:
    """The cheap poll (SPEC §6.2 status/)."""
    when = datetime_formatter()
    return {
        "id": str(job.pk),
        "status": job.status,
        "progress": progress_to_dict(job),
        "updated_at": when(job.updated_at),
        "finished_at": when(job.finished_at),
        "error": job.error or None,
        "waiting_reason": job.waiting_reason or None,
        "last_event_seq": job.last_event_seq,
    }


# --- webhooks -------------------------------------------------------------------------------


def job_event_to_dict(job: Job, step: StepRun | None = None, *, final: bool = False) -> dict:
    """The `data` of a webhook delivery (docs/webhooks.md): the job's summary fields a
    receiver needs, with its workspace's and template's slugs and relative links
    (deliveries are made by workers, outside any request). A `final` event (the job
    ended) carries the job's outputs too, so that a receiver need not call back."""
    data = {
        "id": str(job.pk),
        "workspace": job.workspace.slug,
        "name": job.name,
        "type": job.type,
        "status": job.status,
        "trigger": job.trigger,
        "template": job.definition.get("slug") if job.template_id else None,
        "progress": job.progress,
        "error": job.error or None,
        "created_at": format_datetime(job.created_at),
        "finished_at": format_datetime(job.finished_at),
        "links": {"self": f"/api/v1/jobs/{job.pk}/", "ui": f"/jobs/{job.pk}/"},
    }
    if step is not None:
        data["step"] = {
            "id": step.step_id,
            "status": step.status,
            "attempt": step.attempt,
            "error": step.error or None,
        }
    if final:
        data["outputs"] = outputs_to_dict(job)
    return data
