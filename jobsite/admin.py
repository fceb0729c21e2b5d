from django import forms
from django.contrib import admin

from jobsite.models import ApiKey, Invitation, Membership, Workspace


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


def known_step_types():
    # The registry is a leaf (no models); asked lazily so that this app still imports
    # before `jobs` does.
    from jobs.executors.registry import executor_names

    return [(name, name) for name in executor_names()]


class WorkspaceForm(forms.ModelForm):
    """The staff-only containment settings (SPEC §13): allowed step types as checkboxes,
    so a misspelt type cannot silently forbid the one meant."""

    allowed_step_types = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Step types this workspace's templates may use. None ticked: all types.",
    )

    class Meta:
        model = Workspace
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["allowed_step_types"].choices = known_step_types()

    def clean_allowed_step_types(self):
        return sorted(self.cleaned_data.get("allowed_step_types") or [])


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    form = WorkspaceForm
    list_display = [
        "name",
        "slug",
        "id",
        "default_pool",
        "step_network",
        "retention_days",
        "created_at",
    ]
    list_filter = ["step_network"]
    search_fields = ["name", "slug", "id"]
    inlines = [MembershipInline]
    fieldsets = [
        (None, {"fields": ["name", "slug", "retention_days", "created_at"]}),
        ("Worker pool (server staff only; SPEC §14)", {"fields": ["default_pool"]}),
        (
            "Step containment (server staff only; docs/security.md)",
            {
                "fields": [
                    "step_network",
                    "allowed_step_types",
                    ("cpu_seconds", "memory_mb", "max_file_mb", "max_processes"),
                    "max_artifacts_mb",
                    "storage_quota_mb",
                ]
            },
        ),
    ]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "workspace", "role", "created_at"]
    list_filter = ["role", "workspace"]
    search_fields = ["user__username", "workspace__slug"]


@admin.action(description="Revoke selected keys")
def revoke_keys(modeladmin, request, queryset):
    for key in queryset:
        key.revoke()
    modeladmin.message_user(
        request, f"Revoked {queryset.count()} key(s); they stop working on the next request."
    )


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    actions = [revoke_keys]
    list_display = [
        "name",
        "prefix",
        "workspace",
        "role",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["role", "workspace"]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "key_hash", "last_used_at", "created_at", "revoked_at"]

    def has_add_permission(self, request):
        return False  # a raw key must be shown once: create keys in the API or the settings page


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = [
        "email",
        "workspace",
        "role",
        "created_by",
        "created_at",
        "expires_at",
        "accepted_by",
        "accepted_at",
    ]
    list_filter = ["role", "workspace"]
    search_fields = ["email", "workspace__slug"]
    readonly_fields = ["token_hash", "created_at", "accepted_at", "accepted_by"]
