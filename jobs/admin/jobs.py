"""The admin of jobs and what they are made of: steps, events, artifacts, worker hosts.
Its actions call the same verbs as the UI and the API (jobs/services.py)."""

import json

from django.contrib import admin, messages
from django.db import models
from django.urls import reverse
from django.utils.html import format_html

from jobs.engine.transitions import TransitionRefused
from jobs.models import Artifact, Job, JobEvent, StepRun, WorkerHost
from jobs.services import JobValidationError, cancel_job, rerun_job


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
