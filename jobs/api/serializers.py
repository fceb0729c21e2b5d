"""How jobs look in the API (SPEC §6.3) and what the job endpoints accept.

Serializers never query: views hand them jobs with `template`, `template_version`,
`steps` and `artifacts` already loaded (see jobs_views.job_queryset). Secrets are masked
here, on the way out: secret variables and params become "***", and their values are
replaced inside outputs, errors and the result."""

from django.urls import NoReverseMatch, reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from jobs.engine.events import MASK, mask_secrets
from jobs.engine.states import JOB_TERMINAL, JobStatus, StepStatus
from jobs.models import Trigger
from jobsite.api.fields import (
    ObjectField,
    StrictBooleanField,
    StrictCharField,
    StrictSerializer,
    StrictURLField,
)


def mask_json(value, secrets):
    """`value` with every secret value replaced by *** inside its strings."""
    if not secrets:
        return value
    if isinstance(value, str):
        return mask_secrets(value, secrets)
    if isinstance(value, list):
        return [mask_json(item, secrets) for item in value]
    if isinstance(value, dict):
        return {key: mask_json(item, secrets) for key, item in value.items()}
    return value


def masked_params(job):
    """Per-step params with the values of params declared `secret` masked."""
    secret = {
        step["id"]: {name for name, decl in (step.get("params") or {}).items() if decl.get("type") == "secret"}
        for step in job.definition.get("steps", [])
    }
    return {
        step_id: {
            name: (MASK if name in secret.get(step_id, ()) and value not in (None, "") else value)
            for name, value in (values or {}).items()
        }
        if isinstance(values, dict)
        else values
        for step_id, values in (job.params or {}).items()
    }


def secrets_of(job, context):
    """The job's secret values, computed once per job per serialization."""
    cache = context.setdefault("_secrets", {})
    if job.pk not in cache:
        values = list(job.secret_values())
        for step_id, names in _secret_param_names(job).items():
            for name in names:
                value = (job.params.get(step_id) or {}).get(name)
                if value not in (None, ""):
                    values.append(str(value))
        cache[job.pk] = values
    return cache[job.pk]


def _secret_param_names(job):
    return {
        step["id"]: [name for name, decl in (step.get("params") or {}).items() if decl.get("type") == "secret"]
        for step in job.definition.get("steps", [])
    }


def absolute(request, name, *args):
    path = reverse(name, args=args)
    return request.build_absolute_uri(path) if request is not None else path


def ui_url(request, job):
    try:
        path = reverse("job-detail", args=[job.pk])
    except NoReverseMatch:
        path = f"/jobs/{job.pk}/"
    return request.build_absolute_uri(path) if request is not None else path


class ProgressSerializer(serializers.Serializer):
    percentage = serializers.FloatField(help_text="0–100; never goes backwards.")
    completed_steps = serializers.IntegerField()
    total_steps = serializers.IntegerField()


class TemplateRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    slug = serializers.CharField()
    version = serializers.IntegerField(allow_null=True, help_text="The template version this job runs.")


class StepSerializer(serializers.Serializer):
    id = serializers.CharField(source="step_id")
    type = serializers.CharField()
    status = serializers.ChoiceField(choices=StepStatus.choices)
    attempt = serializers.IntegerField()
    needs = serializers.ListField(child=serializers.CharField())
    queued_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    exit_code = serializers.IntegerField(allow_null=True)
    error = serializers.SerializerMethodField()
    outputs = serializers.SerializerMethodField()
    worker = serializers.SerializerMethodField(help_text="The worker that ran the step's last attempt.")
    reused = serializers.SerializerMethodField(help_text="Carried over from the original job by a failed-only rerun.")

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_error(self, step):
        return mask_secrets(step.error, self.context.get("secrets")) or None

    @extend_schema_field(ObjectField())
    def get_outputs(self, step):
        return mask_json(step.outputs or {}, self.context.get("secrets"))

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_worker(self, step):
        return step.worker_id or None

    @extend_schema_field(serializers.BooleanField())
    def get_reused(self, step):
        return step.reused_from_id is not None


class ArtifactSerializer(serializers.Serializer):
    name = serializers.CharField(help_text='"step:<step id>.<path>" for a step\'s file, the input name for a job input.')
    step = serializers.SerializerMethodField()
    size = serializers.IntegerField(help_text="Bytes.")
    sha256 = serializers.CharField()
    content_type = serializers.CharField()
    created_at = serializers.DateTimeField()
    url = serializers.SerializerMethodField(help_text="Where to download it.")

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_step(self, artifact):
        return artifact.step_id or None

    @extend_schema_field(serializers.URLField())
    def get_url(self, artifact):
        return absolute(self.context.get("request"), "api-job-artifact", artifact.job_id, artifact.name)


class JobLinksSerializer(serializers.Serializer):
    self = serializers.URLField()
    status = serializers.URLField()
    events = serializers.URLField()
    logs = serializers.URLField()
    result = serializers.URLField()
    artifacts = serializers.URLField()
    run = serializers.URLField()
    cancel = serializers.URLField()
    rerun = serializers.URLField()
    ui = serializers.URLField(help_text="The job's page in the web UI.")


def job_links(request, job):
    links = {
        name: absolute(request, f"api-job-{name}", job.pk)
        for name in ("status", "events", "logs", "result", "artifacts", "run", "cancel", "rerun")
    }
    return {"self": absolute(request, "api-job-detail", job.pk), **links, "ui": ui_url(request, job)}


class JobSummarySerializer(serializers.Serializer):
    """A job in a list: everything but its steps, artifacts and result."""

    id = serializers.UUIDField()
    workspace_id = serializers.UUIDField()
    name = serializers.CharField()
    type = serializers.CharField()
    template = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=JobStatus.choices)
    trigger = serializers.ChoiceField(choices=Trigger.choices)
    created_by = serializers.CharField(help_text='"user:<name>", "key:<name>", "trigger_url", …')
    variables = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    queued_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    error = serializers.SerializerMethodField()
    waiting_reason = serializers.SerializerMethodField(help_text="Why a queued job is not running yet.")
    progress = serializers.SerializerMethodField()
    original_job_id = serializers.UUIDField(allow_null=True, help_text="The job this one reruns.")
    attempt = serializers.IntegerField(help_text="1 for an original job, n+1 for a rerun of attempt n.")
    last_event_seq = serializers.IntegerField(help_text="The newest event's seq (see events/ and logs/ ?after=).")
    links = serializers.SerializerMethodField()

    def _secrets(self, job):
        return secrets_of(job, self.context)

    @extend_schema_field(TemplateRefSerializer(allow_null=True))
    def get_template(self, job):
        if job.template_id is None:
            return None
        version = job.template_version.number if job.template_version_id else None
        return {"id": str(job.template_id), "slug": job.template.slug, "version": version}

    @extend_schema_field(ObjectField(help_text='Secret variables read "***".'))
    def get_variables(self, job):
        return job.masked_variables()

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_error(self, job):
        return mask_secrets(job.error, self._secrets(job)) or None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_waiting_reason(self, job):
        return job.waiting_reason or None

    @extend_schema_field(ProgressSerializer())
    def get_progress(self, job):
        return {"percentage": job.progress, "completed_steps": job.completed_steps, "total_steps": job.total_steps}

    @extend_schema_field(JobLinksSerializer())
    def get_links(self, job):
        return job_links(self.context.get("request"), job)


class JobResultSerializer(serializers.Serializer):
    markdown = serializers.CharField()
    outputs = serializers.DictField(child=ObjectField(), help_text="Outputs by step id.")


class JobSerializer(JobSummarySerializer):
    """The full job (SPEC §6.3)."""

    params = serializers.SerializerMethodField()
    inputs = ObjectField()
    callback_url = serializers.SerializerMethodField()
    steps = serializers.SerializerMethodField()
    artifacts = serializers.SerializerMethodField()
    result = serializers.SerializerMethodField(help_text="Once the job has finished; null before.")

    @extend_schema_field(serializers.DictField(child=ObjectField(), help_text='Per-step params; secret ones read "***".'))
    def get_params(self, job):
        return masked_params(job)

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_callback_url(self, job):
        return job.callback_url or None

    @extend_schema_field(StepSerializer(many=True))
    def get_steps(self, job):
        context = {**self.context, "secrets": self._secrets(job)}
        return StepSerializer(job.steps.all(), many=True, context=context).data

    @extend_schema_field(ArtifactSerializer(many=True))
    def get_artifacts(self, job):
        return ArtifactSerializer(job.artifacts.all(), many=True, context=self.context).data

    @extend_schema_field(JobResultSerializer(allow_null=True))
    def get_result(self, job):
        if job.status not in JOB_TERMINAL:
            return None
        secrets = self._secrets(job)
        return {
            "markdown": mask_secrets(job.result_markdown, secrets),
            "outputs": mask_json(job.result_outputs or {}, secrets),
        }


class JobStatusSerializer(serializers.Serializer):
    """The cheap poll (SPEC §6.2 status/)."""

    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=JobStatus.choices)
    progress = serializers.SerializerMethodField()
    updated_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    error = serializers.SerializerMethodField()
    waiting_reason = serializers.SerializerMethodField()
    last_event_seq = serializers.IntegerField()

    get_progress = JobSummarySerializer.get_progress
    get_waiting_reason = JobSummarySerializer.get_waiting_reason

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_error(self, job):
        return mask_secrets(job.error, secrets_of(job, self.context)) or None


class JobPageSerializer(serializers.Serializer):
    results = JobSummarySerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="Pass as ?cursor= for the next (older) page.")
    next = serializers.URLField(allow_null=True)


class EventSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    kind = serializers.CharField(help_text="job.status, step.status, progress or log")
    step = serializers.SerializerMethodField()
    level = serializers.SerializerMethodField()
    message = serializers.CharField()
    data = ObjectField()
    created_at = serializers.DateTimeField()

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_step(self, event):
        return event.step_id or None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_level(self, event):
        return event.level or None


class EventPageSerializer(serializers.Serializer):
    events = EventSerializer(many=True)
    next_after = serializers.IntegerField(help_text="Pass as ?after= to get what comes next.")
    job_status = serializers.ChoiceField(choices=JobStatus.choices)
    complete = serializers.BooleanField(help_text="True when the job has finished and every event was returned.")


class ArtifactListSerializer(serializers.Serializer):
    results = ArtifactSerializer(many=True)


# --- requests ------------------------------------------------------------------------


class JobCreateSerializer(StrictSerializer):
    """A job to create: from a template (`template`) or an inline recipe (`recipe`)."""

    template = StrictCharField(
        required=False, max_length=200, help_text="Id or slug of a template of this workspace."
    )
    recipe = ObjectField(
        required=False,
        help_text="An inline definition (steps, variables, …) instead of a template; admin role.",
    )
    variables = ObjectField(required=False, help_text="Values of the template's variables.")
    params = serializers.DictField(
        child=ObjectField(), required=False, help_text="Per-step params: {step id: {name: value}}."
    )
    inputs = serializers.DictField(
        child=StrictCharField(),
        required=False,
        help_text='Input artifacts: {name: "<job id>/<artifact name>"}, an artifact of another job '
        "of this workspace, copied into the job's inputs.",
    )
    name = StrictCharField(required=False, allow_blank=True, max_length=200)
    start = StrictBooleanField(required=False, default=True, help_text="false creates a draft (start it with run/).")
    callback_url = StrictURLField(
        required=False, allow_blank=True, max_length=2000, help_text="Receives the job's final event."
    )

    def validate(self, data):
        if ("template" in data) == ("recipe" in data):
            raise serializers.ValidationError({"template": ["give either a template or a recipe, not both"]})
        return data


class JobCancelSerializer(StrictSerializer):
    """How to cancel."""

    force = StrictBooleanField(
        required=False, default=False, help_text="Mark it canceled even if its worker is gone."
    )


class JobRerunSerializer(StrictSerializer):
    """What to change in the rerun."""

    variables = ObjectField(
        required=False, help_text='Overrides; a secret sent back as "***" keeps its value.'
    )
    from_ = serializers.ChoiceField(
        choices=[("start", "start"), ("failed", "failed")],
        required=False,
        default="start",
        help_text="failed: reuse the outputs and artifacts of the steps that succeeded and run the rest.",
    )

    def get_fields(self):
        fields = super().get_fields()
        # "from" is a Python keyword: the field is declared as from_ and renamed here.
        fields["from"] = fields.pop("from_")
        return fields
