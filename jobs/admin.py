import json

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.urls import reverse
from django.utils.html import format_html

from jobs.automation.notifications import channel_errors, save_notification_channel
from jobs.automation.schedules import (
    ScheduleInvalid,
    normalize_timezone,
    save_schedule,
)
from jobs.automation.webhooks import redeliver, save_webhook_endpoint, webhook_endpoint_errors
from jobs.engine.transitions import TransitionRefused
from jobs.models import (
    Artifact,
    DeliveryAttempt,
    Job,
    JobEvent,
    NotificationChannel,
    NotificationDelivery,
    Schedule,
    StepRun,
    Upload,
    WebhookDelivery,
    WebhookEndpoint,
    WorkerHost,
)
from jobs.services import JobValidationError, cancel_job, rerun_job
from jobs.views.settings_forms import add_service_errors, check_schedule_form


def pretty_json(value):
    return format_html(
        "<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False, default=str)
    )


class StepRunInline(admin.TabularInline):
    model = StepRun
    extra = 0
    can_delete = False
    fields = [
        "step_id",
        "type",
        "status",
        "attempt",
        "started_at",
        "finished_at",
        "worker_id",
        "error",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class ArtifactInline(admin.TabularInline):
    model = Artifact
    extra = 0
    can_delete = False
    fields = ["name", "step_id", "size", "content_type", "sha256"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


def _apply(modeladmin, request, queryset, verb, action):
    done = refused = 0
    for job in queryset:
        try:
            action(job)
            done += 1
        except (TransitionRefused, JobValidationError) as exc:
            refused += 1
            modeladmin.message_user(request, f"{job.name} ({job.pk}): {exc}", messages.WARNING)
    if done:
        modeladmin.message_user(request, f"{verb} {done} job(s).", messages.SUCCESS)


@admin.action(description="Cancel selected jobs")
def cancel_jobs(modeladmin, request, queryset):
    _apply(modeladmin, request, queryset, "Canceled", cancel_job)


@admin.action(description="Force-cancel selected jobs (worker gone)")
def force_cancel_jobs(modeladmin, request, queryset):
    _apply(modeladmin, request, queryset, "Force-canceled", lambda job: cancel_job(job, force=True))


@admin.action(description="Rerun selected jobs")
def rerun_jobs(modeladmin, request, queryset):
    _apply(
        modeladmin,
        request,
        queryset,
        "Reran",
        lambda job: rerun_job(job, created_by=f"admin:{request.user.get_username()}"),
    )


@admin.action(description="Rerun failed steps of selected jobs")
def rerun_failed_steps(modeladmin, request, queryset):
    _apply(
        modeladmin,
        request,
        queryset,
        "Reran the failed steps of",
        lambda job: rerun_job(
            job, from_failed=True, created_by=f"admin:{request.user.get_username()}"
        ),
    )


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "id",
        "workspace",
        "template",
        "status",
        "trigger",
        "progress",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "trigger", "workspace", "template"]
    search_fields = ["id", "name"]
    # Secrets read "***" in variables and params; the sealed values are never shown.
    exclude = ["variables", "sealed_secrets"]
    # JSON fields read as JSON (their *_json displays below), not as Python reprs.
    readonly_fields = ["ui_link", "masked_variables"] + [
        f"{f.name}_json" if isinstance(f, models.JSONField) else f.name
        for f in Job._meta.fields
        if f.name not in ("variables", "sealed_secrets")
    ]
    inlines = [StepRunInline, ArtifactInline]
    actions = [cancel_jobs, force_cancel_jobs, rerun_jobs, rerun_failed_steps]
    list_select_related = ["workspace", "template"]
    show_full_result_count = False  # no COUNT(*) over every job on each page

    @admin.display(description="variables")
    def masked_variables(self, obj):
        return pretty_json(obj.masked_variables())

    @admin.display(description="page")
    def ui_link(self, obj):
        return format_html(
            '<a href="{}">Open the job page</a>', reverse("job-detail", args=[obj.pk])
        )

    def has_add_permission(self, request):
        return False  # jobs are created by the UI, the API, schedules and triggers


def json_display(field):
    @admin.display(description=field.replace("_", " "))
    def show(self, obj):
        return pretty_json(getattr(obj, field))

    return show


for _field in Job._meta.fields:
    if isinstance(_field, models.JSONField) and _field.name != "variables":
        setattr(JobAdmin, f"{_field.name}_json", json_display(_field.name))


@admin.register(StepRun)
class StepRunAdmin(admin.ModelAdmin):
    list_display = [
        "step_id",
        "job",
        "type",
        "status",
        "attempt",
        "worker_id",
        "started_at",
        "finished_at",
    ]
    list_filter = ["status", "type"]
    search_fields = ["job__id", "step_id"]
    readonly_fields = [f.name for f in StepRun._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False


@admin.register(JobEvent)
class JobEventAdmin(admin.ModelAdmin):
    list_display = ["job", "seq", "kind", "step_id", "level", "message", "created_at"]
    list_filter = ["kind", "level"]
    search_fields = ["job__id"]
    readonly_fields = [f.name for f in JobEvent._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False


@admin.register(Artifact)
class ArtifactAdmin(admin.ModelAdmin):
    list_display = ["name", "job", "step_id", "size", "content_type", "created_at"]
    search_fields = ["name", "job__id"]
    readonly_fields = [f.name for f in Artifact._meta.fields]


@admin.register(WorkerHost)
class WorkerHostAdmin(admin.ModelAdmin):
    list_display = [
        "host_id",
        "hostname",
        "pid",
        "workers",
        "started_at",
        "last_seen_at",
        "drain_requested_at",
    ]
    readonly_fields = ["host_id", "hostname", "pid", "workers", "started_at", "last_seen_at"]


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ["number", "attempted_at", "status_code", "duration_ms", "error", "response_excerpt"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class WebhookEndpointAdminForm(forms.ModelForm):
    """The admin's door to `save_webhook_endpoint`: the settings form's and the API's checks."""

    class Meta:
        model = WebhookEndpoint
        exclude = ["secret", "previous_secret"]

    def clean(self):
        cleaned = super().clean()
        if "workspace" in cleaned:
            self.instance.workspace = cleaned["workspace"]
        errors = webhook_endpoint_errors(
            self.instance,
            url=cleaned.get("url", ""),
            events=cleaned.get("events") or [],
            template=cleaned.get("template"),
        )
        add_service_errors(self, errors)
        return cleaned


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointAdminForm
    list_display = [
        "url",
        "workspace",
        "events",
        "template",
        "is_active",
        "disabled_reason",
        "created_at",
    ]
    list_filter = ["is_active", "workspace"]
    search_fields = ["url", "id"]
    exclude = ["secret", "previous_secret"]  # shown once at creation, never listed
    readonly_fields = ["previous_secret_expires_at", "created_at"]

    def save_model(self, request, obj, form, change):
        fields = ["url", "description", "events", "template", "is_active"]
        save_webhook_endpoint(
            obj, **{name: form.cleaned_data[name] for name in fields if name in form.cleaned_data}
        )


@admin.action(description="Redeliver selected deliveries")
def redeliver_deliveries(modeladmin, request, queryset):
    for delivery in queryset:
        redeliver(delivery)
    modeladmin.message_user(
        request, f"Queued {queryset.count()} redelivery(ies).", messages.SUCCESS
    )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "event",
        "url",
        "status",
        "attempts",
        "last_status_code",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "event", "workspace"]
    search_fields = ["id", "url", "job__id"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    inlines = [DeliveryAttemptInline]
    actions = [redeliver_deliveries]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False


class NotificationChannelAdminForm(forms.ModelForm):
    """The admin's door to `save_notification_channel`: the settings form's and the API's checks."""

    class Meta:
        model = NotificationChannel
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        if "workspace" in cleaned:
            self.instance.workspace = cleaned["workspace"]
        errors = channel_errors(
            self.instance, kind=cleaned.get("kind", ""), name=cleaned.get("name", ""), target=cleaned.get("target", ""),
            events=cleaned.get("events") or [], template=cleaned.get("template"),
        )  # fmt: skip
        add_service_errors(self, errors)
        return cleaned


@admin.register(NotificationChannel)
class NotificationChannelAdmin(admin.ModelAdmin):
    form = NotificationChannelAdminForm
    list_display = ["name", "kind", "workspace", "events", "template", "is_active", "created_at"]
    list_filter = ["kind", "is_active", "workspace"]
    search_fields = ["name", "id"]
    readonly_fields = ["created_at"]

    def save_model(self, request, obj, form, change):
        fields = ["kind", "name", "target", "events", "template", "is_active"]
        save_notification_channel(
            obj, **{name: form.cleaned_data[name] for name in fields if name in form.cleaned_data}
        )


@admin.register(NotificationDelivery)
class NotificationDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "subject",
        "channel",
        "event",
        "status",
        "attempts",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "event", "workspace"]
    search_fields = ["id", "subject", "job__id"]
    readonly_fields = [f.name for f in NotificationDelivery._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    """Uploads are made through the API and the start form only (streamed, hashed)."""

    list_display = [
        "name",
        "workspace",
        "size",
        "content_type",
        "created_at",
        "expires_at",
        "last_used_at",
    ]
    list_filter = ["workspace"]
    search_fields = ["id", "name", "sha256"]
    readonly_fields = [f.name for f in Upload._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False


class ScheduleAdminForm(forms.ModelForm):
    """The admin's door to `save_schedule`: the same checks as the settings form and the
    API, every problem shown on its field."""

    class Meta:
        model = Schedule
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        cleaned["timezone"] = normalize_timezone(cleaned.get("timezone") or "")
        return check_schedule_form(self, cleaned)


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    form = ScheduleAdminForm
    list_display = [
        "__str__",
        "workspace",
        "template",
        "cron",
        "timezone",
        "enabled",
        "next_run_at",
        "last_run_at",
        "paused_reason",
    ]
    list_filter = ["enabled", "workspace"]
    search_fields = ["name", "template__slug"]
    # A secret variable reads "***" in variables and is kept when left so (save_schedule).
    exclude = ["sealed_secrets"]
    readonly_fields = ["next_run_at", "last_run_at", "last_job", "paused_reason"]

    def save_model(self, request, obj, form, change):
        try:
            save_schedule(obj)
        except ScheduleInvalid as exc:  # checked by the form; only a race gets here
            self.message_user(request, f"Not saved: {exc.errors}", messages.ERROR)
