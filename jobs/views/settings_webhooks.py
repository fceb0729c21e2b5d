"""Settings: webhook endpoints (SPEC §10) — add, edit, rotate the signing secret, delete —
and their delivery log with a redeliver button. Admins only, checked on every request.

The signing secret is shown once: after the endpoint is made and after each rotation,
on the next page only (the same way as API keys, `settings_pages.show_once`).
"""

from django.contrib import messages
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jobs.automation import webhooks
from jobs.models.automation import DeliveryAttempt, WebhookDelivery, WebhookEndpoint
from jobs.views.permissions import (
    admin_workspace,
    choosable_templates,
    form_data,
    member_required,
)
from jobs.views.settings_common import confirm_delete, form_page
from jobs.views.settings_forms import WebhookEndpointForm
from jobs.views.settings_pages import pop_shown_once, show_once

DELIVERIES_SHOWN = 50


def _endpoint_for(request, endpoint_id):
    return get_object_or_404(
        WebhookEndpoint.objects.select_related("template"),
        pk=endpoint_id,
        workspace=request.tenant.workspace,
    )


@require_GET
@member_required
def settings_webhooks(request):
    workspace = admin_workspace(request)
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
    context = {
        "endpoints": endpoints,
        "deliveries": deliveries,
        "shown_once": pop_shown_once(request),
        "section": "webhooks",
    }
    return render(request, "jobs/settings_webhooks.html", context)


def _form_page(request, form, endpoint=None):
    return form_page(
        request,
        "jobs/settings_webhook_form.html",
        form,
        endpoint=endpoint,
        section="webhooks",
        now=timezone.now(),
    )


@require_http_methods(["GET", "POST"])
@member_required
def settings_webhook_new(request):
    workspace = admin_workspace(request)
    endpoint = WebhookEndpoint(workspace=workspace)
    form = WebhookEndpointForm(
        form_data(request),
        instance=endpoint,
        templates=choosable_templates(request),
        initial={"is_active": True},
    )
    if request.method == "POST" and form.is_valid():
        endpoint = webhooks.save_webhook_endpoint(endpoint, **form.changes())
        messages.success(request, f"Endpoint {endpoint.url} added.")
        return show_once(
            request,
            f"Signing secret of {endpoint.url}",
            endpoint.secret,
            redirect("settings-webhooks"),
        )
    return _form_page(request, form)


@require_http_methods(["GET", "POST"])
@member_required
def settings_webhook_edit(request, endpoint_id):
    admin_workspace(request)
    endpoint = _endpoint_for(request, endpoint_id)
    form = WebhookEndpointForm(
        form_data(request),
        instance=endpoint,
        templates=choosable_templates(request, keep=endpoint.template_id),
    )
    if request.method == "POST" and form.is_valid():
        endpoint = webhooks.save_webhook_endpoint(endpoint, **form.changes())
        messages.success(request, f"Endpoint {endpoint.url} saved.")
        return redirect("settings-webhooks")
    return _form_page(request, form, endpoint)


@require_POST
@member_required
def settings_webhook_rotate(request, endpoint_id):
    admin_workspace(request)
    endpoint = _endpoint_for(request, endpoint_id)
    secret = webhooks.rotate_secret(endpoint)
    messages.success(
        request,
        "Secret rotated. Until "
        f"{endpoint.previous_secret_expires_at:%Y-%m-%d %H:%M} UTC the old one signs beside "
        "it (two signatures), so the receiver can switch at its pace.",
    )
    return show_once(
        request, f"New signing secret of {endpoint.url}", secret, redirect("settings-webhooks")
    )


@require_http_methods(["GET", "POST"])
@member_required
def settings_webhook_delete(request, endpoint_id):
    """A page asking to confirm (so it works without JavaScript), then the delete."""
    admin_workspace(request)
    endpoint = _endpoint_for(request, endpoint_id)

    def delete():
        endpoint.delete()
        return f"Endpoint {endpoint.url} deleted, with its delivery log."

    return confirm_delete(
        request,
        delete=delete,
        done_url="settings-webhooks",
        section="webhooks",
        title="Delete this webhook endpoint?",
        subject=endpoint.url,
        consequence=(
            f"It is sent nothing from now on, and its {endpoint.deliveries.count()} "
            "deliveries and their attempts are deleted with it. Unticking Active instead "
            "keeps the log."
        ),
        back_url=reverse("settings-webhook-edit", args=[endpoint.pk]),
    )


@require_POST
@member_required
def settings_webhook_redeliver(request, delivery_id):
    admin_workspace(request)
    delivery = get_object_or_404(
        WebhookDelivery, pk=delivery_id, workspace=request.tenant.workspace
    )
    webhooks.redeliver(delivery)
    messages.success(request, f"{delivery.event} queued for delivery again to {delivery.url}.")
    return redirect("settings-webhooks")
