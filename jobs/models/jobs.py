"""Runs: jobs, their step runs, their event stream and their artifacts."""

import uuid

from django.db import models
from django.utils import timezone

from jobs.engine.states import JOB_TERMINAL, JobStatus, StepStatus
from jobsite.models import Workspace
from jobsite.secrets import masked_values, seal_json, unseal_json
from templates_app.models import JobTemplate, TemplateVersion


class Trigger(models.TextChoices):
    UI = "ui", "Web UI"
    API = "api", "API"
    TRIGGER_URL = "trigger_url", "Trigger URL"
    SCHEDULE = "schedule", "Schedule"
    RERUN = "rerun", "Rerun"
    CLI = "cli", "Command line"


class Job(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="jobs")
    template = models.ForeignKey(
        JobTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    template_version = models.ForeignKey(
        TemplateVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    # The normalized definition this job runs (a template version's, or an inline recipe).
    # Kept on the job so it runs the same even if the version row goes away.
    definition = models.JSONField()
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=100, blank=True, default="")
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.DRAFT)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.API)
    created_by = models.CharField(max_length=200, blank=True, default="")

    # Secret variables and params read "***" here; their values are only in
    # sealed_secrets, encrypted (set_values, jobsite/secrets.py).
    variables = models.JSONField(default=dict, blank=True)
    params = models.JSONField(default=dict, blank=True)
    # {"variables": {name: value}, "params": {step: {name: value}}} of the secret ones, as a
    # Fernet token. Decrypted by the worker for the step that runs (unsealed_values),
    # and emptied by retention once the job is old (SPEC §15).
    sealed_secrets = models.TextField(blank=True, default="")
    inputs = models.JSONField(default=dict, blank=True)
    callback_url = models.URLField(max_length=2000, blank=True, default="")

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    total_steps = models.PositiveIntegerField(default=0)
    completed_steps = models.PositiveIntegerField(default=0)
    progress = models.FloatField(default=0.0)  # percent, never goes backwards

    error = models.TextField(blank=True, default="")
    waiting_reason = models.CharField(max_length=300, blank=True, default="")
    concurrency_key = models.CharField(max_length=300, blank=True, default="")
    timeout_seconds = models.PositiveIntegerField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)

    result_markdown = models.TextField(blank=True, default="")
    result_outputs = models.JSONField(default=dict, blank=True)

    original_job = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns"
    )
    attempt = models.PositiveIntegerField(default=1)
    # The highest seq handed out for this job's events; allocating under this row's lock
    # is what keeps every reader's view a gap-free prefix (SPEC §8).
    last_event_seq = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["workspace", "-created_at", "-id"], name="job_ws_created"),
            models.Index(
                fields=["workspace", "status", "-created_at"], name="job_ws_status_created"
            ),
            models.Index(
                fields=["workspace", "template", "-created_at"], name="job_ws_template_created"
            ),
            models.Index(fields=["status", "concurrency_key"], name="job_status_concurrency"),
            models.Index(fields=["workspace", "-finished_at"], name="job_ws_finished"),
        ]

    def __str__(self):
        return f"{self.name} ({self.id})"

    @property
    def is_terminal(self):
        return self.status in JOB_TERMINAL

    @property
    def duration_ms(self):
        if not self.started_at:
            return None
        end = self.finished_at or timezone.now()
        return int((end - self.started_at).total_seconds() * 1000)

    def secret_names(self):
        return {
            name
            for name, decl in self.definition.get("variables", {}).items()
            if decl.get("type") == "secret"
        }

    def _param_declarations(self):
        return {step["id"]: step.get("params") or {} for step in self.definition.get("steps", [])}

    def set_values(self, variables, params):
        """Store clean variables and params: secret ones sealed into sealed_secrets and
        shown as "***" in `variables`/`params`, so nothing read from those columns (the
        API, pages, admin, webhooks, exports) can show a secret."""
        declared = self.definition.get("variables", {})
        variables, params = variables or {}, params or {}
        secret_vars = {
            name: value for name, value in variables.items()
            if (declared.get(name) or {}).get("type") == "secret" and value not in (None, "")
        }  # fmt: skip
        param_declarations = self._param_declarations()
        secret_params = {}
        for step_id, values in params.items():
            step_declared = param_declarations.get(step_id, {})
            found = {
                name: value for name, value in (values or {}).items()
                if (step_declared.get(name) or {}).get("type") == "secret" and value not in (None, "")
            }  # fmt: skip
            if found:
                secret_params[step_id] = found
        self.variables = masked_values(declared, variables)
        self.params = {
            step_id: masked_values(param_declarations.get(step_id, {}), values)
            if isinstance(values, dict)
            else values
            for step_id, values in params.items()
        }
        secrets = {
            key: value
            for key, value in (("variables", secret_vars), ("params", secret_params))
            if value
        }
        self.sealed_secrets = seal_json(secrets)

    def unsealed_values(self):
        """(variables, params) with the secret values in clear. Decrypts: only the worker
        calls it, for the step it runs (and a rerun, to seal them again for the new job).
        A secret whose value was purged (retention) comes back as None: not given."""
        secrets = unseal_json(self.sealed_secrets)
        sealed_vars = secrets.get("variables", {})
        variables = dict(self.variables or {})
        for name in self.secret_names() & set(variables):
            variables[name] = sealed_vars.get(name)
        sealed_params = secrets.get("params", {})
        params = {}
        for step_id, values in (self.params or {}).items():
            if not isinstance(values, dict):
                params[step_id] = values
                continue
            declared = self._param_declarations().get(step_id, {})
            params[step_id] = {
                name: (sealed_params.get(step_id) or {}).get(name)
                if (declared.get(name) or {}).get("type") == "secret"
                else value
                for name, value in values.items()
            }
        return variables, params

    def secret_values(self):
        """The values to mask in what this job's steps write (decrypts: worker only)."""
        secrets = unseal_json(self.sealed_secrets)
        values = list(secrets.get("variables", {}).values())
        for step_values in secrets.get("params", {}).values():
            values.extend(step_values.values())
        return [str(value) for value in values if value not in (None, "")]

    def masked_variables(self):
        return masked_values(self.definition.get("variables", {}), self.variables)


class StepRun(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="steps")
    step_id = models.CharField(max_length=100)
    position = models.PositiveIntegerField()
    type = models.CharField(max_length=50)
    status = models.CharField(max_length=16, choices=StepStatus.choices, default=StepStatus.PENDING)
    needs = models.JSONField(default=list, blank=True)
    attempt = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=1)
    idempotent = models.BooleanField(default=False)
    continue_on_failure = models.BooleanField(default=False)
    timeout_seconds = models.PositiveIntegerField(null=True, blank=True)

    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    worker_id = models.CharField(max_length=200, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    exit_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    outputs = models.JSONField(default=dict, blank=True)
    progress = models.FloatField(default=0.0)
    log_bytes = models.PositiveBigIntegerField(default=0)
    reused_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The worker pool this step runs in (SPEC §14): the step's runs_on, else its
    # template's, else its workspace's default pool, else "default".
    pool = models.CharField(max_length=100, default="default")
    # Why a queued step has not started, when the engine knows: "no worker in pool gpu".
    waiting_reason = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["job", "position"]
        constraints = [
            models.UniqueConstraint(fields=["job", "step_id"], name="steprun_unique_step")
        ]
        # Each holds only the steps of the status it serves (the dispatcher's queue, the
        # reaper's leases, the retries due), so a status change touches at most two of
        # them and a finished step none: a third fewer pages written a step run
        # (docs/benchmarks.md, round 8d). A query that uses one names its status alone
        # (`status=...`, not `status__in`), which is what lets the planner pick it.
        indexes = [
            models.Index(
                fields=["queued_at"],
                condition=models.Q(status=StepStatus.QUEUED),
                name="steprun_queued",
            ),
            models.Index(
                fields=["lease_expires_at"],
                condition=models.Q(status=StepStatus.RUNNING),
                name="steprun_running_lease",
            ),
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status=StepStatus.RETRYING),
                name="steprun_retrying_next",
            ),
        ]

    def __str__(self):
        return f"{self.step_id} of {self.job_id}"

    @property
    def duration_ms(self):
        if not self.started_at:
            return None
        end = self.finished_at or timezone.now()
        return int((end - self.started_at).total_seconds() * 1000)


class EventKind(models.TextChoices):
    JOB_STATUS = "job.status", "Job status"
    STEP_STATUS = "step.status", "Step status"
    PROGRESS = "progress", "Progress"
    LOG = "log", "Log line"


class JobEvent(models.Model):
    """One entry of a job's stream: its log, timeline and live updates are all read from
    here, in `seq` order (SPEC §8)."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    step_id = models.CharField(max_length=100, blank=True, default="")
    level = models.CharField(max_length=8, blank=True, default="")
    message = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["job", "seq"]
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="jobevent_unique_seq")]
        indexes = [
            # The few events that are not log lines (status changes, progress), found
            # without reading a step's million lines: the job page reads each step's
            # attempts from them on every poll. Log rows get no entry, so writing them
            # costs nothing more.
            models.Index(
                fields=["job", "seq"], condition=~models.Q(kind="log"), name="jobevent_not_log"
            ),
        ]

    def __str__(self):
        return f"{self.job_id}#{self.seq} {self.kind}"


def artifact_upload_to(instance, filename):
    return f"artifacts/{instance.job.workspace_id}/{instance.job_id}/{filename}"


class Artifact(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="artifacts")
    step_id = models.CharField(max_length=100, blank=True, default="")  # "" for a job input
    name = models.CharField(max_length=300)
    file = models.FileField(upload_to=artifact_upload_to, max_length=500)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    content_type = models.CharField(max_length=200, default="application/octet-stream")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["job", "name"]
        constraints = [models.UniqueConstraint(fields=["job", "name"], name="artifact_unique_name")]

    def __str__(self):
        return self.name


class WorkerHost(models.Model):
    """A running `worker` host (one django-q2 cluster + dispatcher), seen through the
    heartbeat its dispatcher writes. Used for /readyz, the cluster page and drain."""

    host_id = models.CharField(max_length=200, unique=True)
    hostname = models.CharField(max_length=200, blank=True, default="")
    pid = models.PositiveIntegerField(null=True, blank=True)
    workers = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    # Set by `manage.py drain` (or SIGUSR1): finish running steps, claim no new ones.
    drain_requested_at = models.DateTimeField(null=True, blank=True)
    # The pools this host serves (JOBSITE_POOLS), recorded with every heartbeat.
    pools = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["host_id"]

    def __str__(self):
        return self.host_id


class IdempotencyRecord(models.Model):
    """The response to a POST sent with an `Idempotency-Key` (SPEC §6.6), kept so a retry
    with the same key and body gets the same answer instead of a second job.

    The unique (workspace, key) constraint is what makes concurrent duplicates safe: the
    record is inserted in the same transaction that creates the job, so exactly one of
    them commits and the others find its response."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # sha256 of the method, path and canonical JSON body: the same key with another
    # request is a conflict, not a replay.
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    content_type = models.CharField(max_length=100)
    body = models.TextField(blank=True, default="")
    location = models.CharField(max_length=500, blank=True, default="")
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="idempotency_unique_key")
        ]

    def __str__(self):
        return f"{self.key} ({self.workspace_id})"
