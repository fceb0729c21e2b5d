"""Notifications (SPEC §16): email through Django's mail backend (locmem here) and chat
messages to a real HTTP receiver on 127.0.0.1, sent by the worker tasks, retried like
webhooks; the message names the job, its status, the failing step, its error and the job
page's URL, with secrets masked."""

import json
from datetime import timedelta

from django.core import mail
from django.utils import timezone

from jobs.automation.notifications import enqueue_due_notifications, save_notification_channel
from jobs.models import NotificationChannel, NotificationDelivery
from jobs.services import create_job
from tests.jobs.helpers import make_template
from tests.jobs.test_webhooks import receiver  # noqa: F401 - the fixture

LEAKY = """
slug: leaky
name: Leaky export
variables:
  token: {type: secret, default: hunter2-token}
steps:
  - id: fetch
    type: noop
  - id: upload
    type: shell
    needs: [fetch]
    with:
      script: |
        echo "ERROR: upload refused for token $VAR_TOKEN" >&2
        exit 3
"""
OK = "slug: fine\nname: Fine\nsteps:\n  - {id: s, type: noop}\n"


def channel(workspace, **values):
    return save_notification_channel(NotificationChannel(workspace=workspace), **values)


def test_a_failed_job_is_announced_by_email_and_chat_with_secrets_masked(
    workspace,
    run_tasks,
    receiver,  # noqa: F811
    settings,
):
    settings.JOBSITE_BASE_URL = "https://jobs.example.test"
    chat = receiver(fail_first=1)
    channel(
        workspace,
        kind="email",
        name="Ops mail",
        target="ops@example.test, lead@example.test",
        events=["job.failed"],
    )
    channel(
        workspace,
        kind="chat",
        name="Ops chat",
        target=chat.url,
        events=["job.failed", "job.succeeded"],
    )
    job = create_job(workspace, template=make_template(workspace, LEAKY))
    run_tasks()
    job.refresh_from_db()
    assert job.status == "failed"

    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["ops@example.test", "lead@example.test"]
    assert "Leaky export" in email.subject and "failed" in email.subject
    assert email.body == (
        f"Job: Leaky export ({job.pk})\nStatus: failed\nTemplate: leaky\nFailing step: upload (failed)\n"
        "Error: exited with code 3: upload refused for token ***\n"
        f"Job page: https://jobs.example.test/jobs/{job.pk}/"
    )

    # The chat receiver answered 500 first: the delivery waits for its backoff, then the
    # dispatcher sends it again.
    assert len(chat.requests) == 1
    delivery = NotificationDelivery.objects.get(channel__kind="chat")
    assert (
        delivery.status == "pending"
        and delivery.attempts == 1
        and "HTTP 500" in delivery.last_error
    )
    NotificationDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=5)
    )
    assert enqueue_due_notifications() == 1
    run_tasks()
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.attempts == 2
    message = json.loads(chat.requests[-1][1])["text"]
    assert (
        "Failing step: upload" in message
        and f"/jobs/{job.pk}/" in message
        and "hunter2-token" not in message
    )


def test_filters_by_event_and_template(workspace, run_tasks):
    fine = make_template(workspace, OK)
    leaky = make_template(workspace, LEAKY)
    channel(
        workspace,
        kind="email",
        name="Only fine",
        target="a@example.test",
        events=["job.succeeded"],
        template=fine,
    )
    channel(
        workspace,
        kind="email",
        name="Step failures",
        target="b@example.test",
        events=["step.failed"],
    )
    create_job(workspace, template=leaky)
    create_job(workspace, template=fine)
    run_tasks()
    sent = sorted((email.to[0], email.subject) for email in mail.outbox)
    assert [to for to, _ in sent] == ["a@example.test", "b@example.test"]
    assert "Step upload of job 'Leaky export' failed" in sent[1][1]
    assert "Job 'Fine' succeeded" in sent[0][1]


def test_a_channel_is_checked_before_it_is_saved(workspace, other_workspace):
    from jobs.automation.notifications import NotificationChannelInvalid

    theirs = make_template(other_workspace, OK)
    try:
        channel(
            workspace,
            kind="email",
            name="",
            target="not-an-address",
            events=["job.exploded"],
            template=theirs,
        )
    except NotificationChannelInvalid as exc:
        assert set(exc.errors) == {"name", "target", "events", "template"}
    else:
        raise AssertionError("saved a bad channel")
    try:
        channel(
            workspace,
            kind="chat",
            name="x",
            target="ftp://example.test/hook",
            events=["job.failed"],
        )
    except NotificationChannelInvalid as exc:
        assert set(exc.errors) == {"target"}
