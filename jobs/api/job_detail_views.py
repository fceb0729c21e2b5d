"""jobs/<id>/ — read, poll, start, cancel and rerun one job (SPEC §6.2)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.response import Response

from jobs.api import lean_reads
from jobs.api.common import JOB_ID, JobAPIView, job_queryset, status_response
from jobs.api.idempotency import respond_once
from jobs.api.jobs_views import IDEMPOTENCY_KEY, LOCATION, REPLAYED, job_response, refused
from jobs.api.serializers import (
    JobCancelSerializer,
    JobRerunSerializer,
    JobSerializer,
    JobStatusSerializer,
)
from jobs.engine.events import MASK
from jobs.engine.transitions import TransitionRefused
from jobs.representation import job_status_to_dict, job_to_dict
from jobs.services import JobValidationError, cancel_job, rerun_job, start_job
from jobsite.api.errors import error_responses, response_headers
from jobsite.api.views import require_no_body
from jobsite.models import Role


class JobDetailView(JobAPIView):
    def dispatch(self, request, *args, **kwargs):
        # A plain GET with an API key is answered in one statement (jobs/api/lean_reads.py).
        response = lean_reads.answer(self, request, kwargs.get("job_id"), lean_reads.build_detail)
        return response if response is not None else super().dispatch(request, *args, **kwargs)

    @extend_schema(
        operation_id="jobs_retrieve",
        summary="The full job",
        parameters=[JOB_ID] + response_headers(),
        responses={200: JobSerializer, **error_responses(404)},
        tags=["jobs"],
    )
    def get(self, request, job_id):
        job = self.get_job(job_id, full=True)
        return Response(
            job_to_dict(
                job, request, steps=list(job.steps.all()), artifacts=list(job.artifacts.all())
            )
        )


class JobStatusView(JobAPIView):
    def dispatch(self, request, *args, **kwargs):
        # A plain GET with an API key is answered in one statement (jobs/api/lean_reads.py).
        response = lean_reads.answer(self, request, kwargs.get("job_id"), lean_reads.build_status)
        return response if response is not None else super().dispatch(request, *args, **kwargs)

    @extend_schema(
        operation_id="jobs_status",
        summary="Poll a job cheaply",
        description="Send the `ETag` back as `If-None-Match`: 304 with no body until something changed.",
        parameters=[
            JOB_ID,
            OpenApiParameter(
                "If-None-Match",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="The ETag of the last answer.",
            ),
        ]
        + response_headers(ETag=((200, 304), "Changes whenever the answer would.")),
        responses={
            200: JobStatusSerializer,
            304: OpenApiResponse(description="Nothing changed since the ETag you sent."),
            **error_responses(404),
        },
        tags=["jobs"],
    )
    def get(self, request, job_id):
        job = self.get_job(job_id, queryset=job_queryset(self.workspace, related=False))
        return status_response(request, job_status_to_dict(job))


ACTION_ERRORS = error_responses(404, 409, 413, 415)


class JobRunView(JobAPIView):
    required_roles = {"POST": Role.OPERATOR}

    @extend_schema(
        operation_id="jobs_run",
        summary="Start a draft",
        request=None,
        parameters=[JOB_ID] + response_headers(),
        responses={202: JobSerializer, **ACTION_ERRORS},
        tags=["jobs"],
    )
    def post(self, request, job_id):
        job = self.get_job(job_id)
        require_no_body(request)
        try:
            start_job(job)
        except TransitionRefused as exc:
            raise refused(exc) from None
        return job_response(request, job, 202)


class JobCancelView(JobAPIView):
    required_roles = {"POST": Role.OPERATOR}

    @extend_schema(
        operation_id="jobs_cancel",
        summary="Cancel a job",
        description="Drafts and queued jobs end at once; running steps stop at their next heartbeat. "
        "`force` marks the job canceled even when its worker is gone. 409 once the job has finished.",
        request=JobCancelSerializer,
        parameters=[JOB_ID] + response_headers(),
        responses={202: JobSerializer, **ACTION_ERRORS},
        tags=["jobs"],
    )
    def post(self, request, job_id):
        job = self.get_job(job_id)
        serializer = JobCancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            cancel_job(job, force=serializer.validated_data["force"])
        except TransitionRefused as exc:
            raise refused(exc) from None
        return job_response(request, job, 202)


class JobRerunView(JobAPIView):
    required_roles = {"POST": Role.OPERATOR}

    @extend_schema(
        operation_id="jobs_rerun",
        summary="Rerun a finished job",
        description="A new job from the same template version and variables, pointing at this one "
        '(`original_job_id`). `variables` overrides some; `"from": "failed"` reuses the steps that '
        'succeeded; `"from": "<step id>"` runs that step and everything downstream of it, reusing the '
        "others. 409 unless the job has finished. Honors `Idempotency-Key`.",
        request=JobRerunSerializer,
        parameters=[JOB_ID, IDEMPOTENCY_KEY] + response_headers(**LOCATION, **REPLAYED),
        responses={201: JobSerializer, **ACTION_ERRORS},
        tags=["jobs"],
    )
    def post(self, request, job_id):
        job = self.get_job(job_id)
        serializer = JobRerunSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        secrets = job.secret_names()
        # A secret sent back as the mask it was shown as means "keep it".
        overrides = {
            name: value
            for name, value in (data.get("variables") or {}).items()
            if not (name in secrets and value == MASK)
        }

        def rerun():
            try:
                new = rerun_job(
                    job,
                    variables=overrides,
                    from_failed=data["from"] == "failed",
                    from_step=None if data["from"] in ("start", "failed") else data["from"],
                    created_by=self.tenant.actor,
                )
            except JobValidationError as exc:
                raise exceptions.ValidationError(exc.errors) from None
            except TransitionRefused as exc:
                raise refused(exc) from None
            return job_response(request, new, 201), new

        return respond_once(request, self.workspace, request.data, rerun)
