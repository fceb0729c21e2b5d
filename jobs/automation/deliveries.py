"""What webhook and notification deliveries share (SPEC §10, §16): the POST through the
egress policy, the claim of one attempt, the backoff and giving up, and the dispatcher's
re-enqueue of retries that are due. A delivery here is a WebhookDelivery or a
NotificationDelivery: both have status, attempts, next_attempt_at and finished_at.
"""

import random
import urllib.error
import urllib.request
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from jobs.engine.queue import enqueue_task
from jobs.models.automation import DeliveryStatus
from jobsite.egress import egress_opener, refusal_of

EXCERPT_CHARS = 500
# Seconds to wait after attempt N fails: exponential, about a day in all.
BACKOFF_SECONDS = [5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800]
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str, str]:
    """One POST through the egress policy (jobsite.egress), within JOBSITE_WEBHOOK_TIMEOUT:
    (status code or None, the start of the answer, error). A refused destination is a
    failed attempt whose error says so, like a refused connection."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with egress_opener().open(request, timeout=settings.JOBSITE_WEBHOOK_TIMEOUT) as response:
            return response.status, response.read(EXCERPT_CHARS * 4).decode("utf-8", "replace"), ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(EXCERPT_CHARS * 4).decode("utf-8", "replace"), ""
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        if refused := refusal_of(exc):
            return None, "", str(refused)
        reason = getattr(exc, "reason", exc)
        return None, "", f"{reason.__class__.__name__}: {reason}"[:500]


def claim_attempt(delivery: models.Model) -> int | None:
    """The number of the attempt this task may make of a pending `delivery`, claimed with
    a compare-and-set on (status, attempts) so that duplicate tasks send once; None when
    another task claimed it first."""
    number = delivery.attempts + 1
    claimed = (
        type(delivery)
        .objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING, attempts=delivery.attempts)
        .update(attempts=number, next_attempt_at=None)
    )
    return number if claimed else None


def record_failed_attempt(delivery: models.Model, number: int, **fields) -> str:
    """After attempt `number` failed: give up after MAX_ATTEMPTS (the delivery fails), else
    try again after BACKOFF_SECONDS (±20 %). `fields` are what the delivery keeps of the
    failure (last_status_code, last_error). Returns "gave up" or "will retry"."""
    rows = type(delivery).objects.filter(pk=delivery.pk)
    now = timezone.now()
    if number >= MAX_ATTEMPTS:
        rows.update(status=DeliveryStatus.FAILED, finished_at=now, **fields)
        return "gave up"
    delay = BACKOFF_SECONDS[number - 1] * random.uniform(0.8, 1.2)
    rows.update(next_attempt_at=now + timedelta(seconds=delay), **fields)
    return "will retry"


def enqueue_due_retries_of(
    model: type[models.Model], task: str, name_prefix: str, now: datetime | None = None
) -> int:
    """Enqueue `task` for each pending delivery of `model` (webhook or notification
    deliveries) whose backoff has passed; returns how many."""
    now = now or timezone.now()
    due = list(
        model.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=now - timedelta(seconds=2)
        ).values_list("pk", flat=True)[:200]
    )
    for delivery_id in due:
        # Push the time on so the next pass does not enqueue it again before it runs.
        model.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING).update(
            next_attempt_at=now + timedelta(seconds=60)
        )
        enqueue_task(task, str(delivery_id), task_name=f"{name_prefix}-{delivery_id}")
    return len(due)
