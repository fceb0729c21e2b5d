"""Settings pages for webhooks (with their delivery log and a redeliver button) and
schedules (SPEC §9). Endpoints and schedules are created and edited in the Django admin
or through the API; these pages show what they do and let an admin resend a delivery."""

from django.contrib import messages
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from jobs import webhooks
from jobs.automation_models import DeliveryAttempt, Schedule, WebhookDelivery, WebhookEndpoint
from jobs.ui_permissions import member_required, require_role
from jobsite.models import Role

DELIVERIES_SHOWN = 50


@require_GET
@member_required
def settings_webhooks(request):
    require_role(request, Role.ADMIN)
    workspace = request.tenant.workspace
    endpoints = (
        WebhookEndpoint.objects.filter(workspace=workspace)
        .select_related("template")
        .order_by("url")
    )
    deliveries = (
        WebhookDelivery.objects.filter(workspace=workspace)
        .select_related("endpoint", "job")
        .prefetch_related(
            Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("number"))
        )
        .order_by("-created_at")[:DELIVERIES_SHOWN]
    )
    context = {"endpoints": endpoints, "deliveries": deliveries, "section": "webhooks"}
    return render(request, "jobs/settings_webhooks.html", context)


@require_POST
@member_required
def settings_webhook_redeliver(request, delivery_id):
    require_role(request, Role.ADMIN)
    delivery = get_object_or_404(
        WebhookDelivery, pk=delivery_id, workspace=request.tenant.workspace
    )
    webhooks.redeliver(delivery)
    messages.success(request, f"{delivery.event} queued for delivery again to {delivery.url}.")
    return redirect("settings-webhooks")


@require_GET
@member_required
def settings_schedules(request):
    require_role(request, Role.ADMIN)
    schedules = (
        Schedule.objects.filter(workspace=request.tenant.workspace)
        .select_related("template", "last_job")
        .order_by("template__name", "cron")
    )
    return render(
        request, "jobs/settings_schedules.html", {"schedules": schedules, "section": "schedules"}
    )
