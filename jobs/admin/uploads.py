"""The admin of uploads: read-only."""

from django.contrib import admin

from jobs.models import Upload


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
