from django.contrib import admin

from templates_app.models import JobTemplate, TemplateVersion


class TemplateVersionInline(admin.TabularInline):
    model = TemplateVersion
    extra = 0
    can_delete = False
    fields = ["number", "created_at", "created_by"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(JobTemplate)
class JobTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "type", "workspace", "current_version", "updated_at", "archived_at"]
    list_filter = ["workspace", "type"]
    search_fields = ["name", "slug", "id"]
    readonly_fields = ["current_version", "trigger_key_hash"]
    inlines = [TemplateVersionInline]
