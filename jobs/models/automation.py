"""Models for what happens around jobs without a person: webhook endpoints and their
deliveries (SPEC §10), and cron schedules of templates. Imported by jobs/models/."""

import base64
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone as django_timezone

from jobsite.secrets import MASK, EncryptedTextField, seal_json, unseal_json

WEBHOOK_EVENTS = [
    "job.queued",
    "job.started",
    "job.succeeded",
    "job.failed",
    "job.partial",
    "job.canceled",
    "step.failed",
]


def new_webhook_secret():
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class WebhookEndpoint(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "jobsite.Workspace", on_delete=models.CASCADE, related_name="webhooks"
    )
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True, default="")
    # Empty: every event. Otherwise a list of WEBHOOK_EVENTS.
    events = models.JSONField(default=list, blank=True)
    template = models.ForeignKey(
        "templates_app.JobTemplate",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    # The signing secret must be kept to sign; it is shown once and never listed again.
    # Encrypted at rest (SPEC §15): the column holds a Fernet token.
    secret = EncryptedTextField(default=new_webhook_secret)
    previous_secret = EncryptedTextField(blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(default=django_timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.url

    def wants(self, event, template_id):
        return (not self.events or event in self.events) and (
            self.template_id is None or self.template_id == template_id
        )

    def signing_secrets(self, now=None):
        now = now or django_timezone.now()
        keys = [self.secret]
        if (
            self.previous_secret
            and self.previous_secret_expires_at
            and self.previous_secret_expires_at > now
        ):
            keys.append(self.previous_secret)
        return keys


class DeliveryStatus(models.TextChoices):
    # Waiting for its first or next attempt.
    PENDING = "pending", "Pending"
    # An attempt got a 2xx.
    SUCCEEDED = "succeeded", "Succeeded"
    # Every attempt failed, or the endpoint answered 410 Gone.
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One message to one endpoint (or to a job's callback_url), with its attempts."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("jobsite.Workspace", on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(
        WebhookEndpoint, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    url = models.URLField(max_length=2000)
    event = models.CharField(max_length=32)
    payload = models.JSONField()
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=django_timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_status_next"),
            models.Index(fields=["endpoint", "-created_at"], name="delivery_endpoint_created"),
        ]

    def __str__(self):
        return f"{self.event} → {self.url}"

    @property
    def message_id(self):
        return f"msg_{self.id.hex}"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField(default=django_timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.TextField(blank=True, default="")
    error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self):
        return f"attempt {self.number} of {self.delivery_id}"


class Schedule(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "jobsite.Workspace", on_delete=models.CASCADE, related_name="schedules"
    )
    template = models.ForeignKey(
        "templates_app.JobTemplate", on_delete=models.CASCADE, related_name="schedules"
    )
    name = models.CharField(max_length=200, blank=True, default="")
    cron = models.CharField(
        max_length=100, help_text="five fields: minute hour day-of-month month day-of-week"
    )
    timezone = models.CharField(max_length=64, default="UTC")
    # Secret variables read "***" here; their values are in sealed_secrets, encrypted
    # (the same as a job's: jobsite/secrets.py).
    variables = models.JSONField(default=dict, blank=True)
    sealed_secrets = models.TextField(blank=True, default="")
    enabled = models.BooleanField(default=True)
    # Why the dispatcher paused it (e.g. its variables no longer validate).
    paused_reason = models.CharField(max_length=500, blank=True, default="")
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=django_timezone.now)

    class Meta:
        ordering = ["template", "cron"]
        indexes = [models.Index(fields=["enabled", "next_run_at"], name="schedule_enabled_next")]

    def __str__(self):
        return self.name or f"{self.template} @ {self.cron}"

    def seal_variables(self):
        """Move secret values out of `variables` (they read "***" there) into
        sealed_secrets, encrypted. save_schedule calls it; idempotent."""
        declared = self.template.definition.get("variables", {}) if self.template_id else {}
        sealed = unseal_json(self.sealed_secrets).get("variables", {})
        variables = dict(self.variables or {})
        kept = {}
        for name, value in variables.items():
            if (declared.get(name) or {}).get("type") != "secret" or value in (None, ""):
                continue
            kept[name] = sealed.get(name) if value == MASK else value
            variables[name] = MASK
        kept = {name: value for name, value in kept.items() if value is not None}
        self.variables = {
            name: value for name, value in variables.items() if value != MASK or name in kept
        }
        self.sealed_secrets = seal_json({"variables": kept} if kept else {})

    def unsealed_variables(self):
        """`variables` with the secret values in clear (decrypts): for the run it starts,
        and for an edit that keeps them."""
        return {**(self.variables or {}), **unseal_json(self.sealed_secrets).get("variables", {})}


# --- notifications (SPEC §16) -----------------------------------------------------------

NOTIFICATION_EVENTS = ["job.failed", "job.succeeded", "job.partial", "job.canceled", "step.failed"]


class ChannelKind(models.TextChoices):
    # Django's email backend; `target` is one or more addresses, comma-separated.
    EMAIL = "email", "Email"
    # A Slack-compatible incoming webhook (JSON {"text": …}); `target` is its URL.
    CHAT = "chat", "Chat (Slack-compatible webhook)"


class NotificationChannel(models.Model):
    """Where a workspace is told about its jobs, in words for people (webhooks are the
    machine-readable twin): which events, optionally of one template only."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "jobsite.Workspace", on_delete=models.CASCADE, related_name="notification_channels"
    )
    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    name = models.CharField(max_length=100)
    target = models.CharField(
        max_length=2000, help_text="Email addresses (comma-separated) or the chat webhook's URL."
    )
    # A list of NOTIFICATION_EVENTS; never empty (saved channels have at least one).
    events = models.JSONField(default=list)
    template = models.ForeignKey(
        "templates_app.JobTemplate",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=django_timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def wants(self, event, template_id):
        return event in self.events and (
            self.template_id is None or self.template_id == template_id
        )


class NotificationDelivery(models.Model):
    """One message to one channel, written when the event happened, sent by a worker
    with retries like a webhook delivery."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("jobsite.Workspace", on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(
        NotificationChannel, on_delete=models.CASCADE, related_name="deliveries"
    )
    job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    event = models.CharField(max_length=32)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=django_timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "notification deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="notification_due")]
