"""A bare Django view for bench/api_load.py: read one row, return JSON — the floor the
API's job endpoints are compared with. Mounted under /bench/ only when
JOBSITE_BENCH_VIEWS=1 (jobsite/urls.py); it checks no key, so never enable it in
production."""

from django.http import Http404, JsonResponse
from django.urls import path

from jobs.models import Job

FIELDS = ("id", "status", "progress", "updated_at", "finished_at", "error", "last_event_seq")


def bare_job(request, job_id):
    row = Job.objects.filter(pk=job_id).values(*FIELDS).first()
    if row is None:
        raise Http404
    return JsonResponse(row)


urlpatterns = [path("jobs/<uuid:job_id>/", bare_job, name="bench-bare-job")]
