"""Notifications (SPEC §16): email and Slack-compatible chat messages about a workspace's
jobs, for people. Channels pick events (job failed, succeeded, partial, canceled; step
failed) and optionally one template.

As with webhooks, a delivery is written in the transaction of the status change that
causes it (with its message rendered then, secrets masked) and sent by a worker task
after commit, claimed and retried as webhooks are (jobs/automation/deliveries.py);
nothing is sent inside a web request.
"""

import json
import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from jobs.automation.deliveries import (
    claim_attempt,
    enqueue_due_retries_of,
    post,
    record_failed_attempt,
)
from jobs.automation.webhooks import NO_SUCH_TEMPLATE, WEBHOOK_URL_VALIDATOR
from jobs.engine.queue import enqueue_task
from jobs.engine.states import STEP_BROKEN
from jobs.models.automation import (
    NOTIFICATION_EVENTS,
    ChannelKind,
    DeliveryStatus,
    NotificationChannel,
    NotificationDelivery,
)
from jobsite.egress import url_problem

log = logging.getLogger(__name__)

SEND_TASK = "jobs.automation.notifications.send"


# --- channels: the one way to add or change one --------------------------------------------


class NotificationChannelInvalid(Exception):
    """What is wrong with a channel: `errors` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("Invalid notification channel.")
        self.errors = errors


def email_addresses(target: str) -> list[str]:
    return [address.strip() for address in target.split(",") if address.strip()]


def channel_errors(
    channel: NotificationChannel, *, kind: str, name: str, target: str, events: list, template
) -> dict:
    """Every problem with a channel as it would be."""
    errors: dict[str, list[str]] = {}
    if kind not in ChannelKind.values:
        errors["kind"] = [f"use one of: {', '.join(ChannelKind.values)}"]
    if not (name or "").strip():
        errors["name"] = ["this field is required"]
    if kind == ChannelKind.EMAIL:
        addresses = email_addresses(target or "")
        bad = []
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                bad.append(address)
        if not addresses:
            errors["target"] = ["give one or more email addresses, comma-separated"]
        elif bad:
            errors["target"] = [f"not an email address: {', '.join(bad)}"]
    elif kind == ChannelKind.CHAT:
        try:
            WEBHOOK_URL_VALIDATOR(target or "")
        except ValidationError:
            errors["target"] = ["give the chat's incoming-webhook URL (http or https)"]
        else:
            # The egress policy, as for webhook endpoints; each send is checked again.
            if problem := url_problem(target):
                errors["target"] = [problem]
    unknown = [event for event in events if event not in NOTIFICATION_EVENTS]
    if unknown or not events:
        errors["events"] = [f"choose one or more of: {', '.join(NOTIFICATION_EVENTS)}"]
    if template is not None and (
        template.workspace_id != channel.workspace_id or template.current_version_id is None
    ):
        errors["template"] = [NO_SUCH_TEMPLATE]
    return errors


def save_notification_channel(channel: NotificationChannel, **changes) -> NotificationChannel:
    """Validate and write a channel: the settings form, the API and the admin all call
    this. `changes` (kind, name, target, events, template, is_active) default to what the
    channel holds. Raises NotificationChannelInvalid naming every problem."""
    values = {
        "kind": changes.get("kind", channel.kind),
        "name": changes.get("name", channel.name),
        "target": changes.get("target", channel.target),
        "events": list(changes.get("events", channel.events) or []),
        "template": changes.get("template", channel.template if channel.template_id else None),
    }
    errors = channel_errors(channel, **values)
    if errors:
        raise NotificationChannelInvalid(errors)
    values["events"] = [event for event in NOTIFICATION_EVENTS if event in set(values["events"])]
    values["name"] = values["name"].strip()
    values["target"] = values["target"].strip()
    for field, value in values.items():
        setattr(channel, field, value)
    channel.is_active = changes.get("is_active", channel.is_active)
    channel.save()
    return channel


# --- what to say -----------------------------------------------------------------------------


def job_page_url(job) -> str:
    return settings.JOBSITE_BASE_URL.rstrip("/") + reverse("job-detail", args=[job.pk])


def failing_step(job, step=None):
    """The step to name: the one the event is about, else the job's first broken step."""
    if step is not None:
        return step
    return job.steps.filter(status__in=STEP_BROKEN).order_by("finished_at", "position").first()


def message_for(job, event: str, step=None) -> tuple[str, str]:
    """(subject, text) naming the job, its status, the failing step, its error and the
    job page's URL. What it reads is stored masked already (jobsite/secrets.py)."""
    status = event.split(".", 1)[1]
    what = f"step {step.step_id} of job" if event == "step.failed" else "job"
    subject = f"[{job.workspace.slug}] {what.capitalize()} {job.name!r} {status}"
    lines = [
        f"Job: {job.name} ({job.pk})",
        f"Status: {job.status}" + (f" (step {step.step_id} {status})" if step else ""),
    ]
    if job.template_id:
        lines.append(f"Template: {job.definition.get('slug', '')}")
    broken = (
        failing_step(job, step)
        if event in ("job.failed", "job.partial", "job.canceled", "step.failed")
        else None
    )
    if broken is not None:
        lines.append(f"Failing step: {broken.step_id} ({broken.status})")
        lines.append(f"Error: {broken.error or '—'}")
    elif job.error:
        lines.append(f"Error: {job.error}")
    lines.append(f"Job page: {job_page_url(job)}")
    return subject, "\n".join(lines)


# --- recording and sending -------------------------------------------------------------------


def record_notifications(job, event: str, step=None) -> list[NotificationDelivery]:
    """Create the deliveries an event causes and send them after commit."""
    # The engine's lock query already asked whether the workspace has any (has_notifications).
    if event not in NOTIFICATION_EVENTS or not getattr(job, "has_notifications", True):
        return []
    channels = [
        channel for channel in NotificationChannel.objects.filter(workspace_id=job.workspace_id, is_active=True)
        if channel.wants(event, job.template_id)
    ]  # fmt: skip
    if not channels:
        return []
    subject, body = message_for(job, event, step)
    now = timezone.now()
    deliveries = NotificationDelivery.objects.bulk_create(
        [
            NotificationDelivery(
                workspace_id=job.workspace_id,
                channel=channel,
                job=job,
                event=event,
                subject=subject,
                body=body,
                next_attempt_at=now,
            )  # fmt: skip
            for channel in channels
        ]
    )
    for delivery in deliveries:
        enqueue_send(delivery.pk)
    return deliveries


def enqueue_send(delivery_id) -> None:
    transaction.on_commit(
        lambda: enqueue_task(SEND_TASK, str(delivery_id), task_name=f"notify-{delivery_id}")
    )


def _send_email(channel, delivery) -> str:
    """ "" when sent, else why not."""
    try:
        send_mail(
            delivery.subject,
            delivery.body,
            settings.JOBSITE_NOTIFY_FROM,
            email_addresses(channel.target),
        )
    except Exception as exc:  # any backend error (SMTP, DNS, …) is retried
        return f"{exc.__class__.__name__}: {exc}"[:500]
    return ""


def _send_chat(channel, delivery) -> str:
    text = f"*{delivery.subject}*\n{delivery.body}"
    body = json.dumps({"text": text}).encode()
    # The webhooks' POST: the same egress policy (jobsite.egress) and timeout.
    status_code, excerpt, error = post(
        channel.target,
        body,
        {"content-type": "application/json", "user-agent": "jobsite-notifications/1"},
    )
    if status_code is not None and 200 <= status_code < 300:
        return ""
    return (error or f"HTTP {status_code}: {excerpt}")[:500]


def send(delivery_id) -> str:
    """Worker task: one attempt of one delivery (claim_attempt: duplicate tasks send
    once)."""
    delivery = NotificationDelivery.objects.select_related("channel").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return "nothing to do"
    number = claim_attempt(delivery)
    if number is None:
        return "taken"
    channel = delivery.channel
    now = timezone.now()
    if not channel.is_active:
        NotificationDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.FAILED, finished_at=now, last_error="channel disabled"
        )
        return "channel disabled"
    error = (
        _send_email(channel, delivery)
        if channel.kind == ChannelKind.EMAIL
        else _send_chat(channel, delivery)
    )
    now = timezone.now()
    if not error:
        NotificationDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.SUCCEEDED, finished_at=now, last_error=""
        )
        return "sent"
    outcome = record_failed_attempt(delivery, number, last_error=error)
    if outcome == "will retry":
        log.info("notification %s attempt %s failed: %s", delivery.pk, number, error)
    return outcome


def enqueue_due_notifications(now=None) -> int:
    """Dispatcher duty: send notification retries whose backoff has passed."""
    return enqueue_due_retries_of(NotificationDelivery, SEND_TASK, "notify", now)
