"""What every job endpoint shares: the tenant-scoped lookups and a few responses."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.renderers import JSONRenderer

from jobs.models import Job
from jobsite.api_errors import not_found
from jobsite.api_views import WorkspaceAPIView

JOB_ID = OpenApiParameter("job_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The job's id.")


def job_queryset(workspace, *, full=False):
    """Jobs of `workspace` — the only way any job view reaches a job."""
    queryset = Job.objects.filter(workspace=workspace).select_related("template", "template_version")
    if full:
        queryset = queryset.prefetch_related("steps", "artifacts")
    return queryset


class JobAPIView(WorkspaceAPIView):
    def get_job(self, job_id, *, full=False, queryset=None):
        """The job of this workspace, or the API's one 404."""
        queryset = queryset if queryset is not None else job_queryset(self.workspace, full=full)
        job = queryset.filter(pk=job_id).first()
        if job is None:
            raise not_found()
        return job


def json_response(data, status=200, headers=None):
    """A rendered JSON response (the bytes an idempotent replay will repeat)."""
    response = HttpResponse(JSONRenderer().render(data), status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        response[name] = value
    return response
