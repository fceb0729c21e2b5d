"""What every job endpoint shares: the tenant-scoped lookups and a few responses."""

import hashlib
import json

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from jobs.models import Job
from jobsite.api.errors import not_found
from jobsite.api.views import WorkspaceAPIView

JOB_ID = OpenApiParameter(
    "job_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The job's id."
)


def job_queryset(workspace, *, full=False, related=True):
    """Jobs of `workspace` — the only way any job view reaches a job. `related=False`
    leaves out the template and its version (the status poll shows neither)."""
    queryset = Job.objects.filter(workspace=workspace)
    if related:
        queryset = queryset.select_related("template", "template_version")
    if full:
        queryset = queryset.prefetch_related("steps", "artifacts")
    return queryset


class JobAPIView(WorkspaceAPIView):
    def get_job(self, job_id, *, full=False, queryset=None):
        """The job of this workspace, or the API's one 404."""
        queryset = queryset if queryset is not None else job_queryset(self.workspace, full=full)
        # [:1] rather than first(): a primary-key lookup needs no ORDER BY.
        found = list(queryset.filter(pk=job_id).order_by()[:1])
        if not found:
            raise not_found()
        return found[0]


def json_response(data, status=200, headers=None):
    """A rendered JSON response (the bytes an idempotent replay will repeat)."""
    response = HttpResponse(
        JSONRenderer().render(data), status=status, content_type="application/json"
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def status_etag(data):
    """The ETag of a status/ answer: changes whenever the answer would."""
    return (
        '"'
        + hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:32]
        + '"'
    )


def status_response(request, data: dict, *, drf: bool = True) -> HttpResponse:
    """The answer of status/: `data` with its ETag, or 304 with no body when the client's
    If-None-Match already has it. `drf=False` renders plain JSON (jobs/api/lean_reads.py)
    instead of leaving the rendering to DRF's negotiation."""
    etag = status_etag(data)
    if etag_matches(request.META.get("HTTP_IF_NONE_MATCH"), etag):
        if drf:
            response = Response(status=304)
        else:
            response = HttpResponse(status=304)
            del response["Content-Type"]  # as DRF: an empty body has no type
    else:
        response = Response(data) if drf else json_response(data)
    response["ETag"] = etag
    response["Cache-Control"] = "no-cache"
    return response


def etag_matches(header, etag):
    if not header:
        return False
    candidates = [part.strip() for part in header.split(",")]
    return "*" in candidates or etag in candidates or f"W/{etag}" in candidates
