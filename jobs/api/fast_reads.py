"""The lean path of the two reads clients poll: `GET jobs/{id}/status/` and `GET jobs/{id}/`
with an API key (issue 7, docs/benchmarks.md (c)).

A poll through DRF cost three to six times the bare read of the row: the key lookup (a
query of its own), DRF's request wrapping, negotiation and throttle, the serializers, and
compiling the ORM queries. Here the key and the job come from ONE query — the job joined
to the keys of its own workspace, so the key is checked on every request (a revoked or
expired key stops working at once; nothing about keys is cached) and a job of another
workspace is simply not found — and the answer is built as a dict and rendered by DRF's
JSONRenderer: the same bytes and headers as the DRF views (tests/api/test_fast_reads.py
compares them).

The lean path answers only the plain success: a GET with a key of ours, JSON wanted, the
job found in the key's workspace, within the rate limit. Anything else — no key or a
session, a wrong, revoked or expired key, a job not found, a workspace header naming
another workspace, over the rate limit, `Accept: text/html` — returns None and the DRF
view answers it, with its error shapes, from scratch.
"""

import logging
import uuid

from django.db import DatabaseError
from django.db.models import TextField
from django.db.models.functions import Cast
from django.http import HttpResponse
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from jobs.api.common import etag_matches, status_etag
from jobs.api.prepared import PreparedQuery
from jobs.api.serializers import mask_json, masked_params, secrets_of, ui_url
from jobs.api.throttling import count_request, key_identity
from jobs.events import mask_secrets
from jobs.models import Artifact, Job, StepRun
from jobs.states import JOB_TERMINAL
from jobsite.api_auth import (
    add_rate_limit_headers,
    key_for_fast_path,
    touch_key,
    workspace_headers_agree,
)
from jobsite.models import ApiKey, Role, hash_key, key_is_active, role_at_least

log = logging.getLogger(__name__)

# Accept headers for which DRF's negotiation picks plain JSON (no indent, no HTML).
JSON_ACCEPTS = frozenset({"", "*/*", "application/json"})

KEY_COLUMNS = (
    "workspace__slug",
    "workspace__api_keys__id",
    "workspace__api_keys__role",
    "workspace__api_keys__expires_at",
    "workspace__api_keys__revoked_at",
    "workspace__api_keys__last_used_at",
)
STATUS_COLUMNS = (
    "id", "workspace_id", "status", "progress", "completed_steps", "total_steps", "updated_at", "finished_at",
    "error", "waiting_reason", "last_event_seq",
)
# Only needed to mask secrets in `error`: read as text, decoded only when there is an error.
SECRET_SOURCES = ("definition", "variables", "params")
JOB_FIELDS = tuple(field.attname for field in Job._meta.concrete_fields)
STEP_COLUMNS = (
    "step_id", "type", "status", "attempt", "needs", "queued_at", "started_at", "finished_at",
    "exit_code", "error", "outputs", "worker_id", "reused_from_id",
)
ARTIFACT_COLUMNS = ("name", "step_id", "size", "sha256", "content_type", "created_at")

JOB_ID = Job._meta.pk
KEY_HASH = ApiKey._meta.get_field("key_hash")


def _job_with_key(job_id, key_hash):
    """The job, if it belongs to the workspace of the key with this hash."""
    return Job.objects.filter(pk=job_id, workspace__api_keys__key_hash=key_hash).order_by()


status_row = PreparedQuery(
    Job,
    lambda job_id, key_hash: _job_with_key(job_id, key_hash)
    .annotate(**{f"{name}_text": Cast(name, TextField()) for name in SECRET_SOURCES})
    .values_list(*STATUS_COLUMNS, *KEY_COLUMNS, *(f"{name}_text" for name in SECRET_SOURCES)),
    job_id=JOB_ID,
    key_hash=KEY_HASH,
)
detail_row = PreparedQuery(
    Job,
    lambda job_id, key_hash: _job_with_key(job_id, key_hash).values_list(
        *JOB_FIELDS, *KEY_COLUMNS, "template__slug", "template_version__number"
    ),
    job_id=JOB_ID,
    key_hash=KEY_HASH,
)
step_rows = PreparedQuery(
    StepRun,
    lambda job_id: StepRun.objects.filter(job_id=job_id).order_by("position").values_list(*STEP_COLUMNS),
    job_id=StepRun._meta.get_field("job"),
)
artifact_rows = PreparedQuery(
    Artifact,
    lambda job_id: Artifact.objects.filter(job_id=job_id).order_by("name").values_list(*ARTIFACT_COLUMNS),
    job_id=Artifact._meta.get_field("job"),
)

# DRF's own representation of a datetime (ISO 8601, "Z" for UTC, in the current zone).
datetime_field = serializers.DateTimeField()


def when(value):
    return datetime_field.to_representation(value) if value else None


def duration_ms(started_at, finished_at, now):
    """Job.duration_ms / StepRun.duration_ms for columns read without the model."""
    if not started_at:
        return None
    return int(((finished_at or now) - started_at).total_seconds() * 1000)


# --- the way in -------------------------------------------------------------------------


def answer(view, request, job_id, build):
    """The lean answer to a GET of `view`, or None to let DRF answer. `build(request,
    job_id, raw_key)` returns (response, key id, last_used_at), or None."""
    if request.method != "GET" or request.META.get("HTTP_ACCEPT", "").strip() not in JSON_ACCEPTS:
        return None
    raw_key = key_for_fast_path(request)
    if raw_key is None:
        return None
    try:
        built = build(request, job_id, hash_key(raw_key))
    except DatabaseError:
        raise  # jobsite.db_unavailable answers 503, as on the DRF path
    except Exception:  # noqa: BLE001 - a bug here must not cost the client its answer
        log.exception("the lean path of %s failed; answering through DRF", view.__class__.__name__)
        return None
    if built is None:
        return None
    response, key_id, last_used_at = built
    allowed, _ = count_request(request, key_identity(key_id))
    if not allowed:
        return None  # DRF counts it again and answers 429
    touch_key(key_id, last_used_at)
    # What DRF's APIView.finalize_response and WorkspaceAPIView add.
    for name, value in view.default_response_headers.items():
        if name == "Vary":
            patch_vary_headers(response, [value])
        else:
            response[name] = value
    add_rate_limit_headers(request, response)
    return response


def usable_key(request, job_workspace_id, key_columns):
    """(key id, last_used_at) when the key read with the job may read it, else None."""
    slug, key_id, role, expires_at, revoked_at, last_used_at = key_columns
    if not key_is_active(revoked_at, expires_at) or not role_at_least(role, Role.VIEWER):
        return None
    if not workspace_headers_agree(request, job_workspace_id, slug):
        return None
    return key_id, last_used_at


def json_response(data, **headers):
    response = HttpResponse(JSONRenderer().render(data), content_type="application/json")
    for name, value in headers.items():
        response[name] = value
    return response


# --- status/ ---------------------------------------------------------------------------


def build_status(request, job_id, key_hash):
    """JobStatusView's answer (JobStatusSerializer, ETag, 304)."""
    rows = status_row.rows(job_id=job_id, key_hash=key_hash)
    if len(rows) != 1:
        return None
    row = rows[0]
    (pk, workspace_id, status, progress, completed_steps, total_steps, updated_at, finished_at,
     error, waiting_reason, last_event_seq) = row[: len(STATUS_COLUMNS)]
    key = usable_key(request, workspace_id, row[len(STATUS_COLUMNS) : len(STATUS_COLUMNS) + len(KEY_COLUMNS)])
    if key is None:
        return None
    if error:
        definition, variables, params = (
            Job._meta.get_field(name).from_db_value(text, None, None)
            for name, text in zip(SECRET_SOURCES, row[-len(SECRET_SOURCES) :], strict=True)
        )
        job = Job(id=pk, definition=definition, variables=variables, params=params)
        error = mask_secrets(error, secrets_of(job, {}))
    data = {
        "id": str(pk),
        "status": status,
        "progress": {"percentage": progress, "completed_steps": completed_steps, "total_steps": total_steps},
        "updated_at": when(updated_at),
        "finished_at": when(finished_at),
        "error": error or None,
        "waiting_reason": waiting_reason or None,
        "last_event_seq": last_event_seq,
    }
    etag = status_etag(data)
    if etag_matches(request.META.get("HTTP_IF_NONE_MATCH"), etag):
        response = HttpResponse(status=304)
        del response["Content-Type"]  # as DRF: an empty body has no type
    else:
        response = json_response(data)
    response["ETag"] = etag
    response["Cache-Control"] = "no-cache"
    return response, *key


# --- jobs/{id}/ ------------------------------------------------------------------------


def build_detail(request, job_id, key_hash):
    """JobDetailView's answer (JobSerializer)."""
    rows = detail_row.rows(job_id=job_id, key_hash=key_hash)
    if len(rows) != 1:
        return None
    row = rows[0]
    job = Job(*row[: len(JOB_FIELDS)])
    key = usable_key(request, job.workspace_id, row[len(JOB_FIELDS) : len(JOB_FIELDS) + len(KEY_COLUMNS)])
    if key is None:
        return None
    template_slug, version = row[len(JOB_FIELDS) + len(KEY_COLUMNS) :]
    return json_response(job_representation(request, job, template_slug, version)), *key


def job_representation(request, job, template_slug, version):
    """JobSerializer(job).data, field for field, from a job read with its template's slug
    and version number."""
    secrets = secrets_of(job, {})
    now = timezone.now()
    links = job_links(request, job.pk)
    template = None
    if job.template_id is not None:
        template = {"id": str(job.template_id), "slug": template_slug, "version": version}
    return {
        "id": str(job.pk),
        "workspace_id": str(job.workspace_id),
        "name": job.name,
        "type": job.type,
        "template": template,
        "status": job.status,
        "trigger": job.trigger,
        "created_by": job.created_by,
        "variables": job.masked_variables(),
        "created_at": when(job.created_at),
        "updated_at": when(job.updated_at),
        "queued_at": when(job.queued_at),
        "started_at": when(job.started_at),
        "finished_at": when(job.finished_at),
        "duration_ms": duration_ms(job.started_at, job.finished_at, now),
        "error": mask_secrets(job.error, secrets) or None,
        "waiting_reason": job.waiting_reason or None,
        "progress": {"percentage": job.progress, "completed_steps": job.completed_steps, "total_steps": job.total_steps},
        "original_job_id": str(job.original_job_id) if job.original_job_id is not None else None,
        "attempt": job.attempt,
        "last_event_seq": job.last_event_seq,
        "links": links,
        "params": masked_params(job),
        "inputs": None if job.inputs is None else {str(name): value for name, value in job.inputs.items()},
        "callback_url": job.callback_url or None,
        "steps": [step_representation(step, secrets, now) for step in step_rows.rows(job_id=job.pk)],
        "artifacts": [
            artifact_representation(request, job.pk, artifact) for artifact in artifact_rows.rows(job_id=job.pk)
        ],
        "result": None
        if job.status not in JOB_TERMINAL
        else {
            "markdown": mask_secrets(job.result_markdown, secrets),
            "outputs": mask_json(job.result_outputs or {}, secrets),
        },
    }


def step_representation(row, secrets, now):
    """StepSerializer's fields."""
    (step_id, type_, status, attempt, needs, queued_at, started_at, finished_at, exit_code, error, outputs,
     worker_id, reused_from_id) = row
    return {
        "id": step_id,
        "type": type_,
        "status": status,
        "attempt": attempt,
        "needs": None if needs is None else [str(need) for need in needs],
        "queued_at": when(queued_at),
        "started_at": when(started_at),
        "finished_at": when(finished_at),
        "duration_ms": duration_ms(started_at, finished_at, now),
        "exit_code": exit_code,
        "error": mask_secrets(error, secrets) or None,
        "outputs": mask_json(outputs or {}, secrets),
        "worker": worker_id or None,
        "reused": reused_from_id is not None,
    }


def artifact_representation(request, job_id, row):
    """ArtifactSerializer's fields."""
    name, step_id, size, sha256, content_type, created_at = row
    return {
        "name": name,
        "step": step_id or None,
        "size": size,
        "sha256": sha256,
        "content_type": content_type,
        "created_at": when(created_at),
        "url": request.build_absolute_uri(reverse("api-job-artifact", args=[job_id, name])),
    }


# The job's links are its API path plus a suffix: two reverse() calls per script prefix,
# then string replacement, instead of ten reverse() calls per answer.
LINK_SUFFIXES = {
    "self": "", "status": "status/", "events": "events/", "logs": "logs/", "result": "result/",
    "artifacts": "artifacts/", "run": "run/", "cancel": "cancel/", "rerun": "rerun/",
}
_link_paths = {}


def job_links(request, job_id):
    """serializers.job_links, from one cached pair of path templates per script prefix."""
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


def _path_templates():
    stand_in = uuid.uuid4()
    return str(stand_in), reverse("api-job-detail", args=[stand_in]), ui_url(None, Job(pk=stand_in))
