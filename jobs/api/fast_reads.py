"""The lean path of the two reads clients poll: `GET jobs/{id}/status/` and `GET jobs/{id}/`
with an API key (issue 7, docs/benchmarks.md (c)).

A poll through DRF cost three to six times the bare read of the row: the key lookup (a
query of its own), DRF's request wrapping, negotiation and throttle, the serializers, and
compiling the ORM queries. Here the key and the job come from ONE query — the job with
the key of that hash among the keys of the job's own workspace, so the key is checked on
every request (a revoked or expired key stops working at once; nothing about keys is
cached) and a job of another workspace comes without a key — the job's steps and
artifacts come in the same query, as JSON — the queries are compiled once per
connection (jobs/engine/prepared_sql.py), and the answer is built as a dict and rendered by
DRF's JSONRenderer: the same bytes and headers as the DRF views
(tests/api/test_fast_reads.py compares them).

The lean path answers only the plain success: a GET with a key of ours, JSON wanted, the
job found in the key's workspace, within the rate limit. Anything else — no key or a
session, a wrong, revoked or expired key, a job not found, a workspace header naming
another workspace, over the rate limit, `Accept: text/html` — returns None and the DRF
view answers it, with its error shapes, from scratch.
"""

import json
import logging
import uuid
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, connections, router
from django.db.models import JSONField, OuterRef, Subquery, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast
from django.http import HttpResponse
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from rest_framework import ISO_8601, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.settings import api_settings

from jobs.api.common import etag_matches, status_etag
from jobs.api.serializers import mask_json, masked_params, secrets_of, ui_url
from jobs.api.throttling import count_request, key_identity
from jobs.engine.events import mask_secrets
from jobs.engine.prepared_sql import PreparedQuery
from jobs.engine.states import JOB_TERMINAL
from jobs.models import Artifact, Job, StepRun
from jobsite.api.auth import (
    add_rate_limit_headers,
    key_for_fast_path,
    touch_key,
    workspace_headers_agree,
)
from jobsite.models import ApiKey, Role, Workspace, hash_key, key_is_active, role_at_least
from templates_app.models import JobTemplate, TemplateVersion

log = logging.getLogger(__name__)

# Accept headers for which DRF's negotiation picks plain JSON (no indent, no HTML).
JSON_ACCEPTS = frozenset({"", "*/*", "application/json"})

# The key's columns (NULL when no key of the job's workspace has the hash) and the
# workspace's slug, annotated on the job by _job_with_key.
KEY_FIELDS = ("id", "role", "expires_at", "revoked_at", "last_used_at")
KEY_COLUMNS = ("workspace_slug", *(f"key_{name}" for name in KEY_FIELDS))
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
    """The job, with the key of that hash if it is a key of the job's own workspace.

    Scalar subqueries rather than joins: PostgreSQL plans this query on every request
    (no prepared statements, for connection poolers), and planning a job joined to the
    workspace, the key, the template and its version took five times as long as
    running it (0.33 ms against 0.16 ms for the subqueries)."""
    key = ApiKey.objects.filter(key_hash=key_hash, workspace_id=OuterRef("workspace_id")).order_by()
    return (
        Job.objects.filter(pk=job_id)
        .order_by()
        .annotate(
            workspace_slug=Subquery(Workspace.objects.filter(pk=OuterRef("workspace_id")).order_by().values("slug")),
            **{f"key_{name}": Subquery(key.values(name)) for name in KEY_FIELDS},
        )
    )


def _template_and_version(queryset):
    return queryset.annotate(
        template_slug=Subquery(JobTemplate.objects.filter(pk=OuterRef("template_id")).order_by().values("slug")),
        template_version_number=Subquery(
            TemplateVersion.objects.filter(pk=OuterRef("template_version_id")).order_by().values("number")
        ),
    )


status_row = PreparedQuery(
    Job,
    lambda job_id, key_hash: _job_with_key(job_id, key_hash)
    .annotate(**{f"{name}_text": Cast(name, TextField()) for name in SECRET_SOURCES})
    .values_list(*STATUS_COLUMNS, *KEY_COLUMNS, *(f"{name}_text" for name in SECRET_SOURCES)),
    job_id=JOB_ID,
    key_hash=KEY_HASH,
)
def children_as_json(model, columns, order_by):
    """The job's rows of `model` (steps or artifacts) as one JSON text column of the job's
    own query, `[[column, …], …]`, so that the job costs one query instead of three
    (on PostgreSQL each query cost as much client CPU as the rest of the answer).

    PostgreSQL orders inside the aggregate. SQLite before 3.44 cannot: there each row
    carries its `order_by` value last and rows_from_json sorts by it (SQLite's BINARY
    collation is code point order, as Python's). JSON columns are embedded as JSON, and
    timestamps come as ISO 8601 strings (rows_from_json turns them back)."""
    connection = connections[router.db_for_read(model)]
    quote = connection.ops.quote_name
    fields = {field.attname: field for field in model._meta.concrete_fields}

    def column(name):
        sql = f"child.{quote(fields[name].column)}"
        return f"JSON({sql})" if connection.vendor == "sqlite" and isinstance(fields[name], JSONField) else sql

    selected = ", ".join(column(name) for name in columns)
    source = (
        f"FROM {quote(model._meta.db_table)} child "
        f"WHERE child.{quote(model._meta.get_field('job').column)} = {quote(Job._meta.db_table)}.{quote(JOB_ID.column)}"
    )
    if connection.vendor == "postgresql":
        sql = f"SELECT COALESCE(JSON_AGG(JSON_BUILD_ARRAY({selected}) ORDER BY {column(order_by)}), '[]')::text {source}"
    elif connection.vendor == "sqlite":
        sql = f"SELECT JSON_GROUP_ARRAY(JSON_ARRAY({selected}, {column(order_by)})) {source}"
    else:  # jobsite runs on these two (settings.database_from_url)
        raise NotImplementedError(f"children_as_json: no SQL for {connection.vendor}")
    return RawSQL(sql, (), output_field=TextField())


detail_row = PreparedQuery(
    Job,
    lambda job_id, key_hash: _template_and_version(_job_with_key(job_id, key_hash))
    .annotate(
        steps_json=children_as_json(StepRun, STEP_COLUMNS, "position"),
        artifacts_json=children_as_json(Artifact, ARTIFACT_COLUMNS, "name"),
    )
    .values_list(*JOB_FIELDS, *KEY_COLUMNS, "template_slug", "template_version_number", "steps_json", "artifacts_json"),
    job_id=JOB_ID,
    key_hash=KEY_HASH,
)

# DRF's own representation of a datetime (ISO 8601, "Z" for UTC, in the current zone).
datetime_field = serializers.DateTimeField()


class Timestamps:
    """datetime_field.to_representation, with the current time zone looked up once per
    answer rather than once per timestamp (a job and its steps carry a dozen)."""

    def __init__(self):
        iso = (api_settings.DATETIME_FORMAT or "").lower() == ISO_8601
        self.zone = timezone.get_current_timezone() if iso and settings.USE_TZ else None

    def __call__(self, value):
        if not value:
            return None
        if self.zone is None or value.tzinfo is None:
            return datetime_field.to_representation(value)
        text = value.astimezone(self.zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text


def duration_ms(started_at, finished_at, now):
    """Job.duration_ms / StepRun.duration_ms for columns read without the model."""
    if not started_at:
        return None
    return int(((finished_at or now) - started_at).total_seconds() * 1000)


# --- the way in -------------------------------------------------------------------------


def answer(view, request, job_id, build):
    """The lean answer to a GET of `view`, or None to let DRF answer. `build(request,
    job_id, key_hash)` returns (response, key id, key's last_used_at), or None."""
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
    if key_id is None or not key_is_active(revoked_at, expires_at) or not role_at_least(role, Role.VIEWER):
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
    when = Timestamps()
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
    template_slug, version, steps_json, artifacts_json = row[len(JOB_FIELDS) + len(KEY_COLUMNS) :]
    steps = rows_from_json(steps_json, STEP_COLUMNS)
    artifacts = rows_from_json(artifacts_json, ARTIFACT_COLUMNS)
    return json_response(job_representation(request, job, template_slug, version, steps, artifacts)), *key


def created_job_representation(request, job):
    """JobSerializer(job).data of a job create_job just made and started, from the
    instances it made (its steps, its input artifacts, its template and version): the
    201 of POST jobs/ costs no query, and shows the job as the creation left it."""
    steps = [tuple(getattr(step, name) for name in STEP_COLUMNS) for step in job.step_runs]
    artifacts = [tuple(getattr(artifact, name) for name in ARTIFACT_COLUMNS) for artifact in job.input_artifacts]
    artifacts.sort(key=lambda row: row[0])
    version = job.template_version.number if job.template_version_id else None
    template_slug = job.template.slug if job.template_id else None
    return job_representation(request, job, template_slug, version, steps, artifacts)


DATETIME_COLUMNS = {"queued_at", "started_at", "finished_at", "created_at"}


def rows_from_json(text, columns):
    """The rows children_as_json packed, as the ORM would have returned them."""
    connection = connections[router.db_for_read(Job)]
    rows = json.loads(text)
    if connection.vendor == "sqlite":
        rows.sort(key=lambda row: row[-1])
        rows = [row[:-1] for row in rows]
    positions = [i for i, name in enumerate(columns) if name in DATETIME_COLUMNS]
    for row in rows:
        for i in positions:
            if row[i] is not None:
                moment = datetime.fromisoformat(row[i])
                # SQLite keeps naive UTC text; the ORM makes it aware the same way.
                if settings.USE_TZ and timezone.is_naive(moment):
                    moment = timezone.make_aware(moment, connection.timezone)
                row[i] = moment
    return rows


def job_representation(request, job, template_slug, version, steps, artifacts):
    """JobSerializer(job).data, field for field, from a job read with its template's slug
    and version number, and the rows of its steps and artifacts."""
    secrets = secrets_of(job, {})
    now = timezone.now()
    when = Timestamps()
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
        "steps": [step_representation(step, secrets, now, when) for step in steps],
        "artifacts": [artifact_representation(request, job.pk, artifact, when) for artifact in artifacts],
        "result": None
        if job.status not in JOB_TERMINAL
        else {
            "markdown": mask_secrets(job.result_markdown, secrets),
            "outputs": mask_json(job.result_outputs or {}, secrets),
        },
    }


def step_representation(row, secrets, now, when):
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


def artifact_representation(request, job_id, row, when):
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
