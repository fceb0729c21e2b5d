"""What webhook and notification deliveries share (jobs/automation/deliveries.py),
against a real receiver on 127.0.0.1: a duplicate task sends nothing, a failed attempt
is retried after its backoff, and the last allowed attempt gives up."""

import pytest
from django.utils import timezone

from jobs.automation import notifications, webhooks
from jobs.automation.deliveries import BACKOFF_SECONDS, MAX_ATTEMPTS, claim_attempt
from jobs.models import NotificationChannel, NotificationDelivery, WebhookDelivery, WebhookEndpoint
from jobs.services import create_job
from tests.jobs.helpers import make_template
from tests.jobs.test_webhooks import OK_TEMPLATE, receiver  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(workspace, receiver):  # noqa: F811
    """make(kind, answer) → (a pending delivery to a receiver answering `answer`, the task
    that sends it, the receiver)."""
    job = create_job(workspace, template=make_template(workspace, OK_TEMPLATE), start=False)

    def make(kind, status=500):
        hook = receiver(fail_first=99, status=status)
        if kind == "webhook":
            endpoint = WebhookEndpoint.objects.create(workspace=workspace, url=hook.url)
            delivery = WebhookDelivery.objects.create(
                workspace=workspace, endpoint=endpoint, job=job, url=hook.url,
                event="job.failed", payload={"type": "job.failed"}, next_attempt_at=timezone.now(),
            )  # fmt: skip
            return delivery, webhooks.deliver, hook
        channel = NotificationChannel.objects.create(
            workspace=workspace, kind="chat", name="Ops", target=hook.url, events=["job.failed"]
        )
        delivery = NotificationDelivery.objects.create(
            workspace=workspace, channel=channel, job=job, event="job.failed",
            subject="failed", body="it failed", next_attempt_at=timezone.now(),
        )  # fmt: skip
        return delivery, notifications.send, hook

    return make


@pytest.mark.parametrize("kind", ["webhook", "notification"])
def test_a_failed_attempt_is_retried_after_its_backoff_and_a_duplicate_task_sends_nothing(
    pending, kind
):
    delivery, task, hook = pending(kind)
    before = timezone.now()
    assert task(delivery.pk) == "will retry"
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempts == 1
    wait = (delivery.next_attempt_at - before).total_seconds()
    assert BACKOFF_SECONDS[0] * 0.8 <= wait <= BACKOFF_SECONDS[0] * 1.2 + 1
    # A second task for the same attempt, started from the row as it was read before
    # the first one claimed it: the compare-and-set on attempts refuses it.
    stale = type(delivery).objects.get(pk=delivery.pk)
    stale.attempts = 0
    assert claim_attempt(stale) is None
    assert len(hook.requests) == 1


@pytest.mark.parametrize("kind", ["webhook", "notification"])
def test_the_last_allowed_attempt_gives_up(pending, kind):
    delivery, task, hook = pending(kind)
    type(delivery).objects.filter(pk=delivery.pk).update(attempts=MAX_ATTEMPTS - 1)
    assert task(delivery.pk) == "gave up"
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.finished_at is not None
    assert delivery.attempts == MAX_ATTEMPTS and len(hook.requests) == 1
    if kind == "webhook":
        assert delivery.last_status_code == 500
    else:
        assert delivery.last_error.startswith("HTTP 500")
    assert task(delivery.pk) == "nothing to do"
    assert len(hook.requests) == 1
