"""The shapes of the job endpoints for the OpenAPI schema (SPEC §6.3), and what they accept.

The answers themselves are built by jobs/representation.py (job_to_dict and its
neighbours): the response serializers here only describe them, field for field
(tests/api/test_schema.py checks that the two agree). The request serializers parse
and validate input."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from jobs.engine.states import JobStatus, StepStatus
from jobs.models import Trigger
from jobsite.api.fields import (
    ObjectField,
    OutboundURLField,
    StrictBooleanField,
    StrictCharField,
    StrictSerializer,
)

# --- responses: jobs/representation.py builds them ---------------------------------------


class ProgressSerializer(serializers.Serializer):
    percentage = serializers.FloatField(help_text="0–100; never goes backwards.")
    completed_steps = serializers.IntegerField()
    total_steps = serializers.IntegerField()


class TemplateRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    slug = serializers.CharField()
    version = serializers.IntegerField(
        allow_null=True, help_text="The template version this job runs."
    )


class StepSerializer(serializers.Serializer):  # representation.step_to_dict
    id = serializers.CharField()
    type = serializers.CharField()
    status = serializers.ChoiceField(choices=StepStatus.choices)
    attempt = serializers.IntegerField()
    needs = serializers.ListField(child=serializers.CharField())
    queued_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    exit_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_null=True, read_only=True)
    outputs = ObjectField(read_only=True)
    worker = serializers.CharField(
        allow_null=True, read_only=True, help_text="The worker that ran the step's last attempt."
    )
    reused = serializers.BooleanField(
        read_only=True, help_text="Carried over from the original job by a failed-only rerun."
    )
    pool = serializers.CharField(
        read_only=True, help_text="The worker pool the step runs in (SPEC §14)."
    )
    waiting_reason = serializers.CharField(
        allow_null=True,
        read_only=True,
        help_text='Why a queued step has not started, e.g. "no worker in pool gpu".',
    )


class ArtifactSerializer(serializers.Serializer):  # representation.artifact_to_dict
    name = serializers.CharField(
        help_text='"step:<step id>.<path>" for a step\'s file, the input name for a job input.'
    )
    step = serializers.CharField(allow_null=True, read_only=True)
    size = serializers.IntegerField(help_text="Bytes.")
    sha256 = serializers.CharField()
    content_type = serializers.CharField()
    created_at = serializers.DateTimeField()
    url = serializers.URLField(read_only=True, help_text="Where to download it.")


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


class JobSummarySerializer(serializers.Serializer):  # representation.job_summary_to_dict
    """A job in a list: everything but its steps, artifacts and result."""

    id = serializers.UUIDField()
    workspace_id = serializers.UUIDField()
    name = serializers.CharField()
    type = serializers.CharField()
    template = TemplateRefSerializer(allow_null=True, read_only=True)
    status = serializers.ChoiceField(choices=JobStatus.choices)
    trigger = serializers.ChoiceField(choices=Trigger.choices)
    created_by = serializers.CharField(help_text='"user:<name>", "key:<name>", "trigger_url", …')
    variables = ObjectField(read_only=True, help_text='Secret variables read "***".')
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    queued_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_null=True, read_only=True)
    waiting_reason = serializers.CharField(
        allow_null=True, read_only=True, help_text="Why a queued job is not running yet."
    )
    progress = ProgressSerializer(read_only=True)
    original_job_id = serializers.UUIDField(allow_null=True, help_text="The job this one reruns.")
    attempt = serializers.IntegerField(
        help_text="1 for an original job, n+1 for a rerun of attempt n."
    )
    last_event_seq = serializers.IntegerField(
        help_text="The newest event's seq (see events/ and logs/ ?after=)."
    )
    links = JobLinksSerializer(read_only=True)


OUTPUTS_HELP = (
    "The job's declared outputs (the definition's `outputs`), resolved when it ended; when it "
    "declares none, every step's outputs by step id. Empty until the job ends."
)


class JobResultSerializer(serializers.Serializer):
    markdown = serializers.CharField()
    outputs = ObjectField(help_text=OUTPUTS_HELP)


class JobSerializer(JobSummarySerializer):  # representation.job_to_dict
    """The full job (SPEC §6.3)."""

    params = serializers.DictField(
        child=ObjectField(), read_only=True, help_text='Per-step params; secret ones read "***".'
    )
    inputs = ObjectField()
    callback_url = serializers.URLField(allow_null=True, read_only=True)
    steps = StepSerializer(many=True, read_only=True)
    artifacts = ArtifactSerializer(many=True, read_only=True)
    result = JobResultSerializer(
        allow_null=True, read_only=True, help_text="Once the job has finished; null before."
    )
    outputs = ObjectField(read_only=True, help_text=OUTPUTS_HELP)


class JobStatusSerializer(serializers.Serializer):  # representation.job_status_to_dict
    """The cheap poll (SPEC §6.2 status/)."""

    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=JobStatus.choices)
    progress = ProgressSerializer(read_only=True)
    updated_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(allow_null=True, read_only=True)
    waiting_reason = serializers.CharField(allow_null=True, read_only=True)
    last_event_seq = serializers.IntegerField()


class JobPageSerializer(serializers.Serializer):
    results = JobSummarySerializer(many=True)
    next_cursor = serializers.CharField(
        allow_null=True, help_text="Pass as ?cursor= for the next (older) page."
    )
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
    complete = serializers.BooleanField(
        help_text="True when the job has finished and every event was returned."
    )


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
    start = StrictBooleanField(
        required=False, default=True, help_text="false creates a draft (start it with run/)."
    )
    callback_url = OutboundURLField(
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="Receives the job's final event: http or https, to a destination the egress policy allows.",
    )

    def validate(self, data):
        if "template" in data and "recipe" in data:
            raise serializers.ValidationError(
                {"template": ["give either a template or a recipe, not both"]}
            )
        if "template" not in data and "recipe" not in data:
            raise serializers.ValidationError(
                {
                    "template": [
                        "this field is required: give a template (id or slug) or an inline recipe"
                    ]
                }
            )
        return data


@extend_schema_field(JobCreateSerializer(many=True))
class JobSpecsField(serializers.ListField):
    """A list of POST jobs/ bodies. Each is checked by JobCreateSerializer in the view, so
    that the problems of every job are reported together (jobs[i].field), whatever kind
    they are; the schema describes them as JobCreate."""

    def __init__(self, **kwargs):
        super().__init__(child=ObjectField(), **kwargs)


class JobBatchSerializer(StrictSerializer):
    """Jobs to create in one transaction."""

    jobs = JobSpecsField(allow_empty=False, max_length=1000, help_text="Each a POST jobs/ body.")


class JobBatchResultSerializer(serializers.Serializer):
    jobs = JobSerializer(many=True, help_text="In the order they were sent.")


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
    from_ = serializers.CharField(
        required=False,
        default="start",
        max_length=100,
        help_text='"start" (the default) runs every step again; "failed" reuses the outputs and artifacts '
        "of the steps that succeeded and runs the rest; a step id runs that step and everything "
        "downstream of it, reusing the others.",
    )

    def get_fields(self):
        fields = super().get_fields()
        # "from" is a Python keyword: the field is declared as from_ and renamed here.
        fields["from"] = fields.pop("from_")
        return fields
