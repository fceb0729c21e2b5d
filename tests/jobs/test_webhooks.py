"""Webhooks against a real HTTP receiver on 127.0.0.1: signing (checked with the
standardwebhooks package), retries with backoff, 410, a hanging receiver, callbacks."""

import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from jobs.automation.webhooks import enqueue_due_deliveries, redeliver, rotate_secret
from jobs.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint
from jobs.services import create_job
from tests.jobs.helpers import make_template

OK_TEMPLATE = "slug: ok\nname: OK\nsteps:\n  - {id: s, type: noop}\n"
FAILING_TEMPLATE = "slug: bad\nname: Bad\nsteps:\n  - {id: s, type: noop, with: {fail: true}}\n"


class Receiver:
    """Answers `fail_first` requests with 500 (or `status`), then 200; records each."""

    def __init__(self, fail_first=0, status=500, hang_seconds=0):
        self.requests = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                if hang_seconds:
                    time.sleep(hang_seconds)
                code = status if len(receiver.requests) <= fail_first else 200
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"nope" if code >= 300 else b"thanks")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        # shutdown() waits for the loop's next look at its flag: every 50 ms, not 0.5 s.
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    # The receivers listen on 127.0.0.1, which the egress policy refuses by default.
    settings.JOBSITE_EGRESS_ALLOW = ["127.0.0.1"]
    made = []

    def make(**kwargs):
        made.append(Receiver(**kwargs))
        return made[-1]

    yield make
    for r in made:
        r.close()


def retry_now_and_run(run_tasks):
    WebhookDelivery.objects.filter(status="pending").update(
        next_attempt_at=timezone.now() - timedelta(seconds=5)
    )
    enqueue_due_deliveries()
    run_tasks()


def test_deliveries_are_signed_filtered_and_retried_until_the_receiver_answers(
    workspace, run_tasks, receiver
):
    hook = receiver(fail_first=2)
    endpoint = WebhookEndpoint.objects.create(
        workspace=workspace, url=hook.url, events=["job.succeeded", "job.failed"]
    )
    job = create_job(workspace, template=make_template(workspace, OK_TEMPLATE))
    run_tasks()
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (
        delivery.event == "job.succeeded"
        and delivery.status == "pending"
        and delivery.attempts == 1
    )
    assert delivery.next_attempt_at > timezone.now()  # backing off, not hammering
    retry_now_and_run(run_tasks)
    retry_now_and_run(run_tasks)
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.attempts == 3
    log = list(
        DeliveryAttempt.objects.filter(delivery=delivery).values_list(
            "number", "status_code", "response_excerpt"
        )
    )
    assert log == [(1, 500, "nope"), (2, 500, "nope"), (3, 200, "thanks")]
    # Every attempt is signed; the standardwebhooks package verifies each one.
    for headers, body in hook.requests:
        lowered = {k.lower(): v for k, v in headers.items()}
        payload = Webhook(endpoint.secret).verify(body, lowered)
        assert payload["type"] == "job.succeeded" and payload["data"]["id"] == str(job.pk)
    assert len({h["webhook-id"] for h, _ in hook.requests}) == 1  # one message, three attempts


def test_during_a_secret_rotation_old_and_new_secrets_both_verify(workspace, run_tasks, receiver):
    hook = receiver()
    endpoint = WebhookEndpoint.objects.create(
        workspace=workspace, url=hook.url, events=["job.succeeded"]
    )
    old_secret = endpoint.secret
    new_secret = rotate_secret(endpoint)
    create_job(workspace, template=make_template(workspace, OK_TEMPLATE))
    run_tasks()
    headers, body = hook.requests[0]
    lowered = {k.lower(): v for k, v in headers.items()}
    assert len(lowered["webhook-signature"].split(" ")) == 2
    assert Webhook(old_secret).verify(body, lowered)["type"] == "job.succeeded"
    assert Webhook(new_secret).verify(body, lowered)["type"] == "job.succeeded"


def test_a_410_disables_the_endpoint(workspace, run_tasks, receiver):
    hook = receiver(fail_first=99, status=410)
    endpoint = WebhookEndpoint.objects.create(workspace=workspace, url=hook.url)
    create_job(workspace, template=make_template(workspace, FAILING_TEMPLATE))
    run_tasks()
    endpoint.refresh_from_db()
    assert not endpoint.is_active and "410" in endpoint.disabled_reason
    assert WebhookDelivery.objects.filter(endpoint=endpoint, status="failed").exists()


def test_a_hanging_receiver_times_out_and_the_job_is_not_held_up(
    workspace, run_tasks, receiver, settings
):
    settings.JOBSITE_WEBHOOK_TIMEOUT = 0.5
    hook = receiver(hang_seconds=3)
    WebhookEndpoint.objects.create(workspace=workspace, url=hook.url, events=["job.queued"])
    job = create_job(workspace, template=make_template(workspace, OK_TEMPLATE))
    run_tasks()
    job.refresh_from_db()
    assert job.status == "succeeded"
    attempt = DeliveryAttempt.objects.get()
    assert attempt.status_code is None and "timed out" in attempt.error.lower()
    assert attempt.duration_ms < 2000


def test_step_failures_and_template_filters(workspace, run_tasks, receiver):
    hook = receiver()
    failing = make_template(workspace, FAILING_TEMPLATE)
    WebhookEndpoint.objects.create(
        workspace=workspace, url=hook.url, events=["step.failed"], template=failing
    )
    create_job(workspace, template=make_template(workspace, OK_TEMPLATE))
    create_job(workspace, template=failing)
    run_tasks()
    events = [json.loads(body)["type"] for _, body in hook.requests]
    assert events == ["step.failed"]
    assert json.loads(hook.requests[0][1])["data"]["step"]["id"] == "s"


def test_a_jobs_callback_url_gets_its_final_event_and_redelivery_sends_again(
    workspace, run_tasks, receiver
):
    hook = receiver()
    job = create_job(
        workspace, template=make_template(workspace, OK_TEMPLATE), callback_url=hook.url
    )
    run_tasks()
    assert [json.loads(body)["type"] for _, body in hook.requests] == ["job.succeeded"]
    delivery = WebhookDelivery.objects.get(job=job)
    redeliver(delivery)
    run_tasks()
    assert len(hook.requests) == 2
    assert hook.requests[0][0]["webhook-id"] != hook.requests[1][0]["webhook-id"]


def test_admins_read_the_callback_secret_that_signs_callbacks(
    workspace, run_tasks, receiver, api_key, client
):
    from jobsite.models import Role

    hook = receiver()
    admin_key, viewer_key = api_key(Role.ADMIN), api_key(Role.VIEWER)
    secret = client.get("/api/v1/workspace/", HTTP_AUTHORIZATION=f"Bearer {admin_key}").json()[
        "callback_secret"
    ]
    assert (
        "callback_secret"
        not in client.get("/api/v1/workspace/", HTTP_AUTHORIZATION=f"Bearer {viewer_key}").json()
    )
    create_job(workspace, template=make_template(workspace, OK_TEMPLATE), callback_url=hook.url)
    run_tasks()
    headers, body = hook.requests[0]
    assert Webhook(secret).verify(body, headers)["type"] == "job.succeeded"
