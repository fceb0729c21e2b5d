"""jobs/ and jobs/batch/ — list and create jobs (SPEC §6.2). One job's views (read, poll,
start, cancel, rerun) are in job_detail_views.py."""

import threading

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers

from jobs.api.common import JobAPIView, job_queryset, json_response
from jobs.api.idempotency import respond_once
from jobs.api.inputs import resolve_inputs
from jobs.api.pagination import MAX_PAGE_SIZE, PAGE_SIZE, page_response
from jobs.api.serializers import (
    JobBatchResultSerializer,
    JobBatchSerializer,
    JobCreateSerializer,
    JobPageSerializer,
    JobSerializer,
)
from jobs.engine.states import JobStatus
from jobs.engine.transitions import TransitionRefused
from jobs.models import Trigger
from jobs.representation import job_summary_to_dict, job_to_dict
from jobs.services import JobValidationError, create_jobs, prepare_job
from jobsite.api.errors import Conflict, error_responses, response_headers
from jobsite.api.fields import QuerySerializer
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
        data = checked_spec(request.data)
        check_recipe_role(self.tenant, data)

        def create():
            job = create_job_from_spec(self.workspace, self.tenant, data)
            # The job as the creation left it, from the instances create_job made: no query.
            data_out = job_to_dict(job, request, steps=job.step_runs, artifacts=job.input_artifacts)
            return job_response(request, job, 201, data=data_out), job

        return respond_once(request, self.workspace, request.data, create)


_checkers = threading.local()


def checked_spec(raw):
    """A POST jobs/ body validated by JobCreateSerializer: a ValidationError names the
    field. The serializer is kept, one a thread: a new one deep-copies its declared fields
    (≈ 0.5 of the 2.5 ms of a POST under the profiler), and `run_validation` keeps nothing
    between calls. A refused body is checked again by a new one, whose `errors` word the
    400 as they always were (a body that is not an object under `non_field_errors`)."""
    checker = getattr(_checkers, "checker", None)
    if checker is None:
        checker = _checkers.checker = JobCreateSerializer()
    try:
        return checker.run_validation(raw)
    except serializers.ValidationError:
        JobCreateSerializer(data=raw).is_valid(raise_exception=True)
        raise


def check_recipe_role(tenant, data):
    if "recipe" in data and not tenant.is_admin:
        raise exceptions.PermissionDenied("An inline recipe needs the admin role.")


def create_job_from_spec(workspace, tenant, data):
    """create_job for one validated POST jobs/ body (JobCreateSerializer); a
    ValidationError names the field, a refused start is a 409."""
    return create_jobs_or_409([prepare_job_from_spec(workspace, tenant, data)])[0]


def create_jobs_or_409(new_jobs):
    try:
        return create_jobs(new_jobs)
    except TransitionRefused as exc:
        raise refused(exc) from None


def prepare_job_from_spec(workspace, tenant, data, templates=None):
    """prepare_job for one validated POST jobs/ body; a ValidationError names the field.
    `templates` caches the template lookups of a batch."""
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
        return prepare_job(
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
            try:
                specs.append((index, checked_spec(raw)))
            except serializers.ValidationError as exc:
                errors[f"jobs[{index}]"] = exc.detail  # as POST jobs/ words them
                continue
            check_recipe_role(self.tenant, specs[-1][1])

        def create():
            new_jobs, templates = [], {}
            for index, data in specs:
                try:
                    new_jobs.append(
                        prepare_job_from_spec(self.workspace, self.tenant, data, templates)
                    )
                except exceptions.ValidationError as exc:
                    errors[f"jobs[{index}]"] = exc.detail
            if errors:
                raise exceptions.ValidationError(errors)  # nothing was written
            jobs = create_jobs_or_409(new_jobs)
            data_out = {
                "jobs": [
                    job_to_dict(job, request, steps=job.step_runs, artifacts=job.input_artifacts)
                    for job in jobs
                ]
            }
            return json_response(data_out, status=201), None

        return respond_once(request, self.workspace, request.data, create)
