from django.contrib import admin

from jobsite.models import ApiKey, Invitation, Membership, Workspace


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "id", "retention_days", "created_at"]
    search_fields = ["name", "slug", "id"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "workspace", "role", "created_at"]
    list_filter = ["role", "workspace"]
    search_fields = ["user__username", "workspace__slug"]


@admin.action(description="Revoke selected keys")
def revoke_keys(modeladmin, request, queryset):
    for key in queryset:
        key.revoke()
    modeladmin.message_user(request, f"Revoked {queryset.count()} key(s); they stop working on the next request.")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    actions = [revoke_keys]
    list_display = ["name", "prefix", "workspace", "role", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["role", "workspace"]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "key_hash", "last_used_at", "created_at", "revoked_at"]

    def has_add_permission(self, request):
        return False  # a raw key must be shown once: create keys in the API or the settings page


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "workspace", "role", "created_by", "created_at", "expires_at", "accepted_by", "accepted_at"]
    list_filter = ["role", "workspace"]
    search_fields = ["email", "workspace__slug"]
    readonly_fields = ["token_hash", "created_at", "accepted_at", "accepted_by"]
