"""The two reads clients poll, `GET jobs/{id}/status/` and `GET jobs/{id}/` with an API
key, in one statement each (issue 7, docs/benchmarks.md (c)).

Through DRF a poll costs a query for the key and one for the job (plus two prefetches),
and DRF's request wrapping, negotiation and throttle: three to six times the bare read of
the row. Here the key comes with the job, its steps and its artifacts in one named
statement of jobs/queries.sql, and the rest is what the DRF views do, with the same
functions:

- the key is checked by jobsite.api.auth.check_api_key and the workspace resolved by
  tenant_for_api_key and check_role — the resolver of every API door; nothing about keys
  is cached, so a revoked or expired key is refused by the very next request;
- the request is counted by the same rate limiter (jobsite.api.throttling.count_request);
- the answer is jobs.representation's job_to_dict / job_status_to_dict, rendered by DRF's
  JSONRenderer, with the headers DRF adds.

Only the plain success is answered here: a GET with a key, JSON wanted, the job found in
the key's workspace, within the rate limit. Anything else — no key or a session, a wrong,
revoked or expired key, a job not found, a workspace header naming another workspace,
over the rate limit, `Accept: text/html` — returns None and the DRF view answers it from
scratch with its error shapes (the resolver then decides again, the same way).
"""

from collections.abc import Callable
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers
from rest_framework.exceptions import APIException

from jobs.api.common import json_response, status_response
from jobs.models import Artifact, Job, StepRun
from jobs.representation import job_status_to_dict, job_to_dict
from jobsite.api.auth import (
    ConflictingKeys,
    check_api_key,
    check_role,
    presented_key,
    tenant_for_api_key,
)
from jobsite.api.throttling import add_rate_limit_headers, count_request, key_identity
from jobsite.models import KEY_PREFIX, ApiKey, Workspace, hash_key, key_from_row
from jobsite.named_sql import db_value, fetch, model_from_row, models_from_json
from templates_app.models import JobTemplate, TemplateVersion

# Accept headers for which DRF's negotiation picks plain JSON (no indent, no HTML).
JSON_ACCEPTS = frozenset({"", "*/*", "application/json"})

JOB_ID = Job._meta.pk
KEY_HASH = ApiKey._meta.get_field("key_hash")
STATUS_COLUMNS = (
    "id",
    "workspace_id",
    "status",
    "progress",
    "completed_steps",
    "total_steps",
    "updated_at",
    "finished_at",
    "error",
    "waiting_reason",
    "last_event_seq",
    "definition",
    "variables",
    "params",
)


def answer(view, request: HttpRequest, job_id: UUID, build: Callable) -> HttpResponse | None:
    """The answer to a GET of `view` with an API key, or None to let DRF answer.
    `build(request, job_id, key_hash)` reads the job with the key and returns (the key,
    a function making the response), or None."""
    if request.method != "GET" or request.META.get("HTTP_ACCEPT", "").strip() not in JSON_ACCEPTS:
        return None
    try:
        raw = presented_key(request)
    except ConflictingKeys:
        return None  # DRF answers the 400
    if not raw or not raw.startswith(KEY_PREFIX):
        return None
    found = build(request, job_id, hash_key(raw))
    if found is None:
        return None
    key, respond = found
    try:
        check_role(tenant_for_api_key(request, check_api_key(key)), view, request.method)
    except APIException:
        return None
    allowed, _ = count_request(request, key_identity(key.pk))
    if not allowed:
        return None  # DRF counts it again and answers 429
    response = respond()
    # What DRF's APIView.finalize_response and WorkspaceAPIView add.
    for name, value in view.default_response_headers.items():
        if name == "Vary":
            patch_vary_headers(response, [value])
        else:
            response[name] = value
    add_rate_limit_headers(request, response)
    return response


def key_of_job_row(row: dict) -> ApiKey | None:
    """The key read with the job (None when no key of the job's workspace has the hash),
    with its workspace's id and slug."""
    if row["key_id"] is None:
        return None
    key = key_from_row(row)
    key.workspace = Workspace.from_db(
        key._state.db, ["id", "slug"], [key.workspace_id, row["workspace_slug"]]
    )
    return key


def build_status(request: HttpRequest, job_id: UUID, key_hash: str):
    """JobStatusView's answer."""
    rows = fetch("job_status_with_key", Job, job_id=db_value(JOB_ID, job_id), key_hash=key_hash)
    if not rows or (key := key_of_job_row(rows[0])) is None:
        return None
    job = model_from_row(Job, rows[0], STATUS_COLUMNS)
    return key, lambda: status_response(request, job_status_to_dict(job), drf=False)


def build_detail(request: HttpRequest, job_id: UUID, key_hash: str):
    """JobDetailView's answer."""
    rows = fetch("job_with_key", Job, job_id=db_value(JOB_ID, job_id), key_hash=key_hash)
    if not rows or (key := key_of_job_row(rows[0])) is None:
        return None
    row = rows[0]
    job = model_from_row(Job, row)
    db = job._state.db
    if job.template_id is not None:
        job.template = JobTemplate.from_db(
            db, ["id", "slug"], [job.template_id, row["template_slug"]]
        )
    if job.template_version_id is not None:
        job.template_version = TemplateVersion.from_db(
            db, ["id", "number"], [job.template_version_id, row["template_version_number"]]
        )
    steps = models_from_json(StepRun, row["steps_json"])
    artifacts = models_from_json(Artifact, row["artifacts_json"])
    for artifact in artifacts:
        artifact.job_id = job.pk
    return key, lambda: json_response(job_to_dict(job, request, steps=steps, artifacts=artifacts))
