"""The admin of what runs without a person: webhook endpoints and deliveries, notification
channels and deliveries, schedules. Each form saves through the same verb as the settings
pages and the API (save_webhook_endpoint, save_notification_channel, save_schedule)."""

from django import forms
from django.contrib import admin, messages

from jobs.automation.notifications import channel_errors, save_notification_channel
from jobs.automation.schedules import ScheduleInvalid, normalize_timezone, save_schedule
from jobs.automation.webhooks import redeliver, save_webhook_endpoint, webhook_endpoint_errors
from jobs.models import (
    DeliveryAttempt,
    NotificationChannel,
    NotificationDelivery,
    Schedule,
    WebhookDelivery,
    WebhookEndpoint,
)
from jobs.views.settings_forms import add_service_errors, check_schedule_form


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
