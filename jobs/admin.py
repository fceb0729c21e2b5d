from django.contrib import admin

from jobs.models import Artifact, Job, JobEvent, StepRun


class StepRunInline(admin.TabularInline):
    model = StepRun
    extra = 0
    can_delete = False
    fields = ["step_id", "type", "status", "attempt", "started_at", "finished_at", "worker_id", "error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["name", "id", "workspace", "template", "status", "trigger", "created_at", "finished_at"]
    list_filter = ["status", "trigger", "workspace", "template"]
    search_fields = ["id", "name"]
    readonly_fields = [field.name for field in Job._meta.fields]
    inlines = [StepRunInline]


@admin.register(JobEvent)
class JobEventAdmin(admin.ModelAdmin):
    list_display = ["job", "seq", "kind", "step_id", "level", "message", "created_at"]
    list_filter = ["kind", "level"]
    search_fields = ["job__id"]


@admin.register(Artifact)
class ArtifactAdmin(admin.ModelAdmin):
    list_display = ["name", "job", "step_id", "size", "content_type", "created_at"]
    search_fields = ["name", "job__id"]
