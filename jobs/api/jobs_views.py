"""jobs/ — create, list, read, poll, start, cancel and rerun jobs (SPEC §6.2)."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from jobs.api import lean_reads
from jobs.api.common import (
    JOB_ID,
    JobAPIView,
    job_queryset,
    json_response,
    status_response,
)
from jobs.api.idempotency import respond_once
from jobs.api.inputs import resolve_inputs
from jobs.api.serializers import (
    JobBatchResultSerializer,
    JobBatchSerializer,
    JobCancelSerializer,
    JobCreateSerializer,
    JobPageSerializer,
    JobRerunSerializer,
    JobSerializer,
    JobStatusSerializer,
)
from jobs.engine.events import MASK
from jobs.engine.states import JobStatus
from jobs.engine.transitions import TransitionRefused
from jobs.keyset import decode_cursor, first_page
from jobs.models import Trigger
from jobs.representation import job_status_to_dict, job_summary_to_dict, job_to_dict
from jobs.services import JobValidationError, cancel_job, create_job, rerun_job, start_job
from jobsite.api.errors import Conflict, error_responses, response_headers
from jobsite.api.fields import QuerySerializer
from jobsite.api.views import require_no_body
from jobsite.models import Role
from templates_app.api import find_template

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Send the same key again (with the same body, within 24 h) to get the original "
    "response instead of a second job; the replay carries `Idempotent-Replayed: true`.",
)
LOCATION = {"Location": ((201,), "The new job's URL.")}
REPLAYED = {
    "Idempotent-Replayed": ((201,), '"true" when this is the stored answer to an earlier request.')
}

PAGE_SIZE, MAX_PAGE_SIZE = 50, 200
MAX_BATCH = 1000


def refused(exc):
    """A TransitionRefused from a service → 409 saying why."""
    code = "concurrency_limit" if exc.__class__.__name__ == "ConcurrencyRejected" else "conflict"
    return Conflict(str(exc), code=code)


def read_job_to_dict(request, job):
    """The job read back with its template, steps and artifacts, as the API shows it."""
    job = job_queryset(job.workspace, full=True).get(pk=job.pk)
    return job_to_dict(
        job, request, steps=list(job.steps.all()), artifacts=list(job.artifacts.all())
    )


def job_response(request, job, status, data=None):
    """The job as the API shows it, read back (or `data`, already built); a 201 carries
    the new job's Location."""
    if data is None:
        data = read_job_to_dict(request, job)
    headers = (
        {"Location": request.build_absolute_uri(reverse("api-job-detail", args=[job.pk]))}
        if status == 201
        else {}
    )
    return json_response(data, status=status, headers=headers)


# --- the list and creation ----------------------------------------------------------------


def cursor_key(cursor):
    """The key a `?cursor=` names, or a 400 on `cursor`."""
    key = decode_cursor(cursor)
    if key is None:
        raise exceptions.ValidationError({"cursor": ["not a cursor this API gave out"]})
    return key


def page_response(request, rows, params, serialize):
    """One keyset page of `rows` as the list endpoints answer it: results, the next
    cursor and the next page's URL (null on the last page)."""
    after = cursor_key(params["cursor"]) if "cursor" in params else None
    page, next_cursor = first_page(rows, after, params["limit"])
    next_url = None
    if next_cursor:
        query_string = request.query_params.copy()
        query_string["cursor"] = next_cursor
        next_url = request.build_absolute_uri(f"{request.path}?{query_string.urlencode()}")
    return Response({"results": serialize(page), "next_cursor": next_cursor, "next": next_url})


class JobListQuery(QuerySerializer):
    cursor = serializers.CharField(required=False, help_text="next_cursor of the previous page.")
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_PAGE_SIZE, default=PAGE_SIZE
    )
    status = serializers.CharField(
        required=False, help_text="One status or several, comma-separated."
    )
    template = serializers.CharField(required=False, help_text="Template id or slug.")
    type = serializers.CharField(required=False)
    trigger = serializers.ChoiceField(choices=Trigger.choices, required=False)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)
    q = serializers.CharField(required=False, help_text="Part of the job's name.")

    def validate_status(self, value):
        statuses = [part.strip() for part in value.split(",") if part.strip()]
        unknown = [status for status in statuses if status not in JobStatus.values]
        if unknown or not statuses:
            raise serializers.ValidationError(f"unknown status; use: {', '.join(JobStatus.values)}")
        return statuses


LIST_PARAMETERS = [
    OpenApiParameter(
        "cursor", OpenApiTypes.STR, description="`next_cursor` of the previous page (opaque)."
    ),
    OpenApiParameter(
        "limit",
        OpenApiTypes.INT,
        description=f"Jobs per page, 1–{MAX_PAGE_SIZE} (default {PAGE_SIZE}).",
    ),
    OpenApiParameter(
        "status",
        OpenApiTypes.STR,
        description="Status, or several comma-separated: " + ", ".join(JobStatus.values),
    ),
    OpenApiParameter("template", OpenApiTypes.STR, description="Template id or slug."),
    OpenApiParameter("type", OpenApiTypes.STR, description="The job's type label."),
    OpenApiParameter(
        "trigger", OpenApiTypes.STR, enum=Trigger.values, description="What created the job."
    ),
    OpenApiParameter("created_after", OpenApiTypes.DATETIME),
    OpenApiParameter("created_before", OpenApiTypes.DATETIME),
    OpenApiParameter(
        "q", OpenApiTypes.STR, description="Part of the job's name (case-insensitive)."
    ),
]


class JobListView(JobAPIView):
    required_roles = {"POST": Role.OPERATOR}

    @extend_schema(
        operation_id="jobs_list",
        summary="List jobs, newest first",
        description="Keyset-paginated: follow `next_cursor` until it is null. No total count is computed.",
        parameters=LIST_PARAMETERS + response_headers(),
        responses={200: JobPageSerializer, **error_responses()},
        tags=["jobs"],
    )
    def get(self, request):
        query = JobListQuery(request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        jobs = job_queryset(self.workspace)
        if "status" in params:
            jobs = jobs.filter(status__in=params["status"])
        if "template" in params:
            template = find_template(self.workspace, params["template"])
            jobs = jobs.filter(template=template) if template else jobs.none()
        if "type" in params:
            jobs = jobs.filter(type=params["type"])
        if "trigger" in params:
            jobs = jobs.filter(trigger=params["trigger"])
        if "created_after" in params:
            jobs = jobs.filter(created_at__gt=params["created_after"])
        if "created_before" in params:
            jobs = jobs.filter(created_at__lt=params["created_before"])
        if params.get("q"):
            jobs = jobs.filter(name__icontains=params["q"])
        return page_response(
            request, jobs, params, lambda page: [job_summary_to_dict(job, request) for job in page]
        )

    @extend_schema(
        operation_id="jobs_create",
        summary="Create a job",
        description=(
            "From a template (`template`: id or slug) or an inline recipe (`recipe`, admin role). "
            "`start: false` creates a draft. Variables are validated against the template: a "
            "missing, mistyped or unknown variable is a 400 naming it. Honors `Idempotency-Key`."
        ),
        request=JobCreateSerializer,
        parameters=[IDEMPOTENCY_KEY] + response_headers(**LOCATION, **REPLAYED),
        responses={201: JobSerializer, **error_responses(404, 409, 413, 415)},
        tags=["jobs"],
    )
    def post(self, request):
        serializer = JobCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        check_recipe_role(self.tenant, data)

        def create():
            job = create_job_from_spec(self.workspace, self.tenant, data)
            # The job as the creation left it, from the instances create_job made: no query.
            data_out = job_to_dict(job, request, steps=job.step_runs, artifacts=job.input_artifacts)
            return job_response(request, job, 201, data=data_out), job

        return respond_once(request, self.workspace, request.data, create)


def check_recipe_role(tenant, data):
    if "recipe" in data and not tenant.is_admin:
        raise exceptions.PermissionDenied("An inline recipe needs the admin role.")


def create_job_from_spec(workspace, tenant, data, templates=None):
    """create_job for one validated POST jobs/ body (JobCreateSerializer); a
    ValidationError names the field, a refused start is a 409. `templates` caches the
    template lookups of a batch."""
    template = None
    if "recipe" not in data:
        ref = data["template"]
        if templates is None or ref not in templates:
            found = find_template(workspace, ref)
            if templates is not None:
                templates[ref] = found
        template = templates[ref] if templates is not None else found
        if template is None or template.current_version_id is None:
            raise exceptions.ValidationError({"template": ["no such template in this workspace"]})
        if template.archived_at is not None:
            raise exceptions.ValidationError({"template": ["this template is archived"]})
    inputs = resolve_inputs(workspace, data.get("inputs"))
    try:
        return create_job(
            workspace,
            template=template,
            recipe=data.get("recipe"),
            variables=data.get("variables"),
            params=data.get("params"),
            inputs={name: ref for name, (ref, _) in inputs.items()},
            input_files={name: artifact for name, (_, artifact) in inputs.items()},
            name=data.get("name", ""),
            start=data["start"],
            trigger=Trigger.API,
            created_by=tenant.actor,
            callback_url=data.get("callback_url", ""),
        )
    except JobValidationError as exc:
        raise exceptions.ValidationError(exc.errors) from None
    except TransitionRefused as exc:
        raise refused(exc) from None


class JobBatchView(JobAPIView):
    required_roles = {"POST": Role.OPERATOR}

    @extend_schema(
        operation_id="jobs_batch",
        summary="Create many jobs at once",
        description=(
            f"Up to {MAX_BATCH} jobs, each the body of `POST jobs/`, created in one transaction: "
            "if any is invalid none is created, and every problem is reported under "
            "`jobs[i].<field>`. Honors `Idempotency-Key`."
        ),
        request=JobBatchSerializer,
        parameters=[IDEMPOTENCY_KEY] + response_headers(**REPLAYED),
        responses={201: JobBatchResultSerializer, **error_responses(409, 413, 415)},
        tags=["jobs"],
    )
    def post(self, request):
        serializer = JobBatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        specs, errors = [], {}
        for index, raw in enumerate(serializer.validated_data["jobs"]):
            spec = JobCreateSerializer(data=raw)
            if spec.is_valid():
                check_recipe_role(self.tenant, spec.validated_data)
            else:
                errors[f"jobs[{index}]"] = spec.errors
            specs.append(spec)

        def create():
            jobs, templates = [], {}
            for index, spec in enumerate(specs):
                if not spec.is_valid():
                    continue
                try:
                    jobs.append(
                        create_job_from_spec(
                            self.workspace, self.tenant, spec.validated_data, templates
                        )
                    )
                except exceptions.ValidationError as exc:
                    errors[f"jobs[{index}]"] = exc.detail
            if errors:
                # Raised inside respond_once's transaction: every job made above is rolled back.
                raise exceptions.ValidationError(errors)
            data_out = {
                "jobs": [
                    job_to_dict(job, request, steps=job.step_runs, artifacts=job.input_artifacts)
                    for job in jobs
                ]
            }
            return json_response(data_out, status=201), None

        return respond_once(request, self.workspace, request.data, create)


# --- one job -------------------------------------------------------------------------------


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
