"""Settings: notification channels (SPEC §16) — add, edit, delete — and the log of what
was sent. Admins only, checked on every request. A chat channel's URL is a credential:
it is written here, never shown again."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from jobs.api.notifications_views import shown_target
from jobs.automation import notifications
from jobs.models.automation import NotificationChannel, NotificationDelivery
from jobs.views.permissions import (
    admin_workspace,
    choosable_templates,
    form_data,
    member_required,
)
from jobs.views.settings_common import confirm_delete, form_page
from jobs.views.settings_forms import NotificationChannelForm

DELIVERIES_SHOWN = 50


def _channel_for(request, channel_id):
    return get_object_or_404(
        NotificationChannel.objects.select_related("template"),
        pk=channel_id,
        workspace=request.tenant.workspace,
    )


@require_GET
@member_required
def settings_notifications(request):
    workspace = admin_workspace(request)
    channels = (
        NotificationChannel.objects.filter(workspace=workspace)
        .select_related("template")
        .order_by("name")
    )
    deliveries = (
        NotificationDelivery.objects.filter(workspace=workspace)
        .select_related("channel", "job")
        .order_by("-created_at")[:DELIVERIES_SHOWN]
    )
    context = {
        "channels": [(channel, shown_target(channel)) for channel in channels],
        "deliveries": deliveries,
        "section": "notifications",
    }
    return render(request, "jobs/settings_notifications.html", context)


def _form_page(request, form, channel=None):
    return form_page(
        request,
        "jobs/settings_notification_form.html",
        form,
        channel=channel,
        section="notifications",
    )


@require_http_methods(["GET", "POST"])
@member_required
def settings_notification_new(request):
    workspace = admin_workspace(request)
    channel = NotificationChannel(workspace=workspace)
    form = NotificationChannelForm(
        form_data(request),
        instance=channel,
        templates=choosable_templates(request),
        initial={"is_active": True, "events": ["job.failed"]},
    )
    if request.method == "POST" and form.is_valid():
        channel = notifications.save_notification_channel(channel, **form.changes())
        messages.success(request, f"Channel {channel.name} added.")
        return redirect("settings-notifications")
    return _form_page(request, form)


@require_http_methods(["GET", "POST"])
@member_required
def settings_notification_edit(request, channel_id):
    admin_workspace(request)
    channel = _channel_for(request, channel_id)
    form = NotificationChannelForm(
        form_data(request),
        instance=channel,
        templates=choosable_templates(request, keep=channel.template_id),
    )
    if request.method == "POST" and form.is_valid():
        channel = notifications.save_notification_channel(channel, **form.changes())
        messages.success(request, f"Channel {channel.name} saved.")
        return redirect("settings-notifications")
    return _form_page(request, form, channel)


@require_http_methods(["GET", "POST"])
@member_required
def settings_notification_delete(request, channel_id):
    """A page asking to confirm (so it works without JavaScript), then the delete."""
    admin_workspace(request)
    channel = _channel_for(request, channel_id)

    def delete():
        channel.delete()
        return f"Channel {channel.name} deleted, with its log."

    return confirm_delete(
        request,
        delete=delete,
        done_url="settings-notifications",
        section="notifications",
        title="Delete this notification channel?",
        subject=channel.name,
        consequence=(
            "It is sent nothing from now on, and its log is deleted with it. "
            "Unticking Active instead keeps the log."
        ),
        back_url=reverse("settings-notification-edit", args=[channel.pk]),
    )
