"""Webhooks (SPEC §10): which events go where, signed as Standard Webhooks, delivered by
the workers with retries, every attempt logged.

Deliveries are created in the transaction of the status change that causes them and
sent by a worker task after commit; nothing is ever sent inside a web request.
"""

import base64
import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from jobs.automation.deliveries import (
    EXCERPT_CHARS,
    claim_attempt,
    enqueue_due_retries_of,
    post,
    record_failed_attempt,
)
from jobs.engine.queue import enqueue_tasks
from jobs.models.automation import (
    WEBHOOK_EVENTS,
    DeliveryAttempt,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    new_webhook_secret,
)
from jobs.representation import format_datetime, job_event_to_dict
from jobsite.egress import url_problem

if TYPE_CHECKING:
    from jobs.models import Job, StepRun

log = logging.getLogger(__name__)

DELIVER_TASK = "jobs.automation.webhooks.deliver"

JOB_EVENTS = {
    "queued": "job.queued",
    "running": "job.started",
    "succeeded": "job.succeeded",
    "failed": "job.failed",
    "partial": "job.partial",
    "canceled": "job.canceled",
}
FINAL_EVENTS = {"job.succeeded", "job.failed", "job.partial", "job.canceled"}


# --- endpoints: the one way to add or change one ------------------------------------------

# http and https only (Django's and DRF's URL fields also take ftp); the help texts say so.
WEBHOOK_URL_VALIDATOR = URLValidator(schemes=["http", "https"], message="Enter a valid URL.")
NO_SUCH_TEMPLATE = "no such template in this workspace"


class WebhookEndpointInvalid(Exception):
    """What is wrong with an endpoint: `errors` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("Invalid webhook endpoint.")
        self.errors = errors


def unknown_events_problem(events: list) -> str | None:
    """Every event that is not one of WEBHOOK_EVENTS, named in one message."""
    unknown = [
        event for event in events if not isinstance(event, str) or event not in WEBHOOK_EVENTS
    ]
    if not unknown:
        return None
    names = ", ".join(repr(event) for event in unknown)
    return f"unknown event {names}; use: {', '.join(WEBHOOK_EVENTS)}"


def webhook_endpoint_errors(
    endpoint: WebhookEndpoint, *, url: str, events: list, template
) -> dict[str, list[str]]:
    """Every problem with an endpoint as it would be: the URL is http or https, to a
    destination the egress policy allows; the events are WEBHOOK_EVENTS (none: every
    event); the template filter is a live template of the endpoint's workspace or the one
    it has now, even if archived since."""
    errors: dict[str, list[str]] = {}
    try:
        WEBHOOK_URL_VALIDATOR(url)
    except ValidationError as exc:
        errors["url"] = list(exc.messages)
    else:
        # The egress policy (jobsite.egress), as far as it can be known now; each
        # delivery is checked again on the address it connects to.
        if problem := url_problem(url):
            errors["url"] = [problem]
    if problem := unknown_events_problem(events):
        errors["events"] = [problem]
    if template is not None:
        if template.workspace_id != endpoint.workspace_id or template.current_version_id is None:
            errors["template"] = [NO_SUCH_TEMPLATE]
        elif template.archived_at is not None and template.pk != endpoint.template_id:
            errors["template"] = ["this template is archived"]
    return errors


def save_webhook_endpoint(endpoint: WebhookEndpoint, **changes) -> WebhookEndpoint:
    """Validate and write an endpoint: the settings form, the API and the admin all call
    this. `changes` (url, description, events, template, is_active) default to what the
    endpoint holds. Raises WebhookEndpointInvalid naming every problem. An endpoint that
    is active afterwards has its disabled_reason cleared: a person turned it on again."""
    url = changes.get("url", endpoint.url)
    events = changes.get("events", endpoint.events) or []
    template = changes.get("template", endpoint.template if endpoint.template_id else None)
    errors = webhook_endpoint_errors(endpoint, url=url, events=events, template=template)
    if errors:
        raise WebhookEndpointInvalid(errors)
    endpoint.url, endpoint.template = url, template
    endpoint.events = [event for event in WEBHOOK_EVENTS if event in set(events)]
    endpoint.description = changes.get("description", endpoint.description)
    endpoint.is_active = changes.get("is_active", endpoint.is_active)
    # Only what was given is written, so a worker disabling the endpoint at the same
    # moment (a 410 from the receiver) is not undone by an unrelated edit.
    fields = [
        name
        for name in ("url", "description", "events", "template", "is_active")
        if name in changes
    ]
    if endpoint.is_active and endpoint.disabled_reason:
        endpoint.disabled_reason = ""
        fields.append("disabled_reason")
    if endpoint._state.adding:
        endpoint.save()
    elif fields:
        endpoint.save(update_fields=fields)
    return endpoint


# --- signing -----------------------------------------------------------------------------


def _key_bytes(secret):
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(secret, message_id, timestamp, body):
    """The Standard Webhooks signature: base64 HMAC-SHA256 of "id.timestamp.body"."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return (
        "v1,"
        + base64.b64encode(hmac.new(_key_bytes(secret), signed, hashlib.sha256).digest()).decode()
    )


def signed_headers(secrets, message_id, body, timestamp=None):
    timestamp = int(timestamp or time.time())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        # During a rotation both the new and the old secret sign, space-separated.
        "webhook-signature": " ".join(
            sign(secret, message_id, timestamp, body) for secret in secrets
        ),
        "content-type": "application/json",
        "user-agent": "jobsite-webhooks/1",
    }


# --- what to send ------------------------------------------------------------------------


def job_payload(job, event, step=None):
    """What a delivery of `event` sends: the event's type and time, and the job as
    jobs.representation.job_event_to_dict shows it to webhooks (with its outputs in a
    final event)."""
    return {
        "type": event,
        "timestamp": format_datetime(timezone.now()),
        "data": job_event_to_dict(job, step, final=event in FINAL_EVENTS),
    }


def record_event_deliveries(job, event, step=None):
    """Create the deliveries an event causes (endpoints of the job's workspace that want
    it, and the job's callback_url for its final event); send them after commit."""
    return record_jobs_event_deliveries([job], event, step)


def record_jobs_event_deliveries(
    jobs: list["Job"], event: str, step: "StepRun | None" = None
) -> list[WebhookDelivery]:
    """record_event_deliveries for the same event of many jobs (a batch's `job.queued`):
    the endpoints read once and every delivery in one INSERT, however many jobs."""
    # The engine's lock query already asked whether the workspace has any (has_webhooks).
    asking = {job.workspace_id for job in jobs if getattr(job, "has_webhooks", True)}
    endpoints = {}
    if asking:
        for endpoint in WebhookEndpoint.objects.filter(workspace_id__in=asking, is_active=True):
            endpoints.setdefault(endpoint.workspace_id, []).append(endpoint)
    new = []
    for job in jobs:
        targets = [
            (endpoint, endpoint.url)
            for endpoint in endpoints.get(job.workspace_id, [])
            if getattr(job, "has_webhooks", True) and endpoint.wants(event, job.template_id)
        ]
        if job.callback_url and event in FINAL_EVENTS:
            targets.append((None, job.callback_url))
        if not targets:
            continue
        payload = job_payload(job, event, step)
        new += [
            WebhookDelivery(
                workspace_id=job.workspace_id,
                endpoint=endpoint,
                job=job,
                url=url,
                event=event,
                payload=payload,
                next_attempt_at=timezone.now(),
            )
            for endpoint, url in targets
        ]
    if not new:
        return []
    deliveries = WebhookDelivery.objects.bulk_create(new)
    enqueue_deliveries([delivery.pk for delivery in deliveries])
    return deliveries


def enqueue_delivery(delivery_id):
    enqueue_deliveries([delivery_id])


def enqueue_deliveries(delivery_ids: list[int]) -> None:
    """Send the deliveries' tasks after commit, all at once (a batch's N deliveries are
    one INSERT of task rows, not N)."""
    calls = [((str(delivery_id),), f"webhook-{delivery_id}") for delivery_id in delivery_ids]
    transaction.on_commit(lambda: enqueue_tasks(DELIVER_TASK, calls))


# --- sending -------------------------------------------------------------------------------


def deliver(delivery_id):
    """Worker task: one attempt of one delivery (claim_attempt: duplicate tasks send
    once)."""
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return "nothing to do"
    number = claim_attempt(delivery)
    if number is None:
        return "taken"
    endpoint = delivery.endpoint
    if endpoint is not None and not endpoint.is_active:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.FAILED, finished_at=timezone.now()
        )
        return "endpoint disabled"
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    secrets = (
        endpoint.signing_secrets()
        if endpoint
        else [workspace_callback_secret(delivery.workspace_id)]
    )
    headers = signed_headers(secrets, delivery.message_id, body)
    started = time.monotonic()
    status_code, text, error = post(delivery.url, body, headers)
    duration_ms = int((time.monotonic() - started) * 1000)
    DeliveryAttempt.objects.create(
        delivery=delivery,
        number=number,
        status_code=status_code,
        duration_ms=duration_ms,
        response_excerpt=text[:EXCERPT_CHARS],
        error=error,
    )
    now = timezone.now()
    if status_code is not None and 200 <= status_code < 300:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.SUCCEEDED, last_status_code=status_code, finished_at=now
        )
        return "delivered"
    if status_code == 410 and endpoint is not None:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            is_active=False,
            disabled_reason=f"the receiver answered 410 Gone on {now:%Y-%m-%d %H:%M} UTC",
        )
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.FAILED, last_status_code=410, finished_at=now
        )
        return "gone"
    return record_failed_attempt(delivery, number, last_status_code=status_code)


def workspace_callback_secret(workspace_id) -> str:
    """The secret that signs a workspace's job callbacks: its own, derived from SECRET_KEY
    and the workspace id, never an endpoint's. Operators choose callback_url, so a
    callback is a message any operator can obtain; signed with an endpoint's secret it
    would verify at the admin's endpoint too. Admins read it from GET /api/v1/workspace/
    (`callback_secret`; docs/webhooks.md)."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"callback:{workspace_id}".encode(), hashlib.sha256
    ).digest()
    return "whsec_" + base64.b64encode(digest[:24]).decode()


def enqueue_due_deliveries(now=None):
    """Dispatcher duty: send webhook retries whose backoff has passed."""
    return enqueue_due_retries_of(WebhookDelivery, DELIVER_TASK, "webhook", now)


def redeliver(delivery):
    """Send a delivery again as a new one (same event and payload, a fresh message id)."""
    copy = WebhookDelivery.objects.create(
        workspace_id=delivery.workspace_id,
        endpoint=delivery.endpoint,
        job=delivery.job,
        url=delivery.url,
        event=delivery.event,
        payload=delivery.payload,
        next_attempt_at=timezone.now(),
    )
    enqueue_delivery(copy.pk)
    return copy


def rotate_secret(endpoint, overlap_hours=24):
    """A new secret; the old one keeps signing beside it for `overlap_hours`."""

    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = timezone.now() + timedelta(hours=overlap_hours)
    endpoint.secret = new_webhook_secret()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    return endpoint.secret
