"""/metrics (SPEC §16): what a Prometheus scrape sees for a known set of jobs, steps,
deliveries and hosts, and who may scrape it."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from jobs.engine.states import JobStatus, StepStatus
from jobs.models import Job, StepRun, WorkerHost
from jobs.models.automation import DeliveryStatus, WebhookDelivery
from tests.jobs.helpers import make_template

TEMPLATE = """
name: Build
slug: build
steps:
  - id: compile
    type: noop
"""


def scrape(client, **headers) -> dict:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _job(workspace, template, status):
    return Job.objects.create(
        workspace=workspace, template=template, definition={}, name="build", status=status
    )


@pytest.fixture
def known_state(workspace, settings):
    settings.JOBSITE_METRICS_TOKEN = "s3cret-token"
    now = timezone.now()
    template = make_template(workspace, TEMPLATE)
    for status, n in (
        (JobStatus.SUCCEEDED, 3),
        (JobStatus.FAILED, 2),
        (JobStatus.RUNNING, 2),
        (JobStatus.QUEUED, 1),
    ):
        for _ in range(n):
            _job(workspace, template, status)
    running_job, other_running = Job.objects.filter(status=JobStatus.RUNNING)
    StepRun.objects.create(
        job=running_job,
        step_id="a",
        position=0,
        type="noop",
        status=StepStatus.RUNNING,
        pool="default",
        started_at=now,
    )
    StepRun.objects.create(
        job=running_job,
        step_id="b",
        position=1,
        type="noop",
        status=StepStatus.QUEUED,
        pool="default",
        queued_at=now - timedelta(seconds=5),
    )
    StepRun.objects.create(
        job=other_running,
        step_id="a",
        position=0,
        type="noop",
        status=StepStatus.QUEUED,
        pool="gpu",
        queued_at=now - timedelta(seconds=120),
    )
    StepRun.objects.create(
        job=other_running,
        step_id="b",
        position=1,
        type="noop",
        status=StepStatus.QUEUED,
        pool="gpu",
        queued_at=now - timedelta(seconds=30),
    )
    # Finished steps of the last hours: 0.2 s, 2 s, 2 s and 100 s; one from two days ago is outside the window.
    done = Job.objects.filter(status=JobStatus.SUCCEEDED).first()
    for i, seconds in enumerate((0.2, 2, 2, 100)):
        StepRun.objects.create(
            job=done,
            step_id=f"s{i}",
            position=i,
            type="noop",
            status=StepStatus.SUCCEEDED,
            started_at=now - timedelta(minutes=10),
            finished_at=now - timedelta(minutes=10) + timedelta(seconds=seconds),
        )
    StepRun.objects.create(
        job=done,
        step_id="old",
        position=9,
        type="noop",
        status=StepStatus.SUCCEEDED,
        started_at=now - timedelta(days=2),
        finished_at=now - timedelta(days=2) + timedelta(seconds=1),
    )
    for status in (DeliveryStatus.PENDING, DeliveryStatus.PENDING, DeliveryStatus.SUCCEEDED):
        WebhookDelivery.objects.create(
            workspace=workspace,
            url="https://example.invalid/h",
            event="job.succeeded",
            payload={},
            status=status,
        )
    WorkerHost.objects.create(host_id="w1", last_seen_at=now, pools=["default"])
    WorkerHost.objects.create(host_id="w2", last_seen_at=now, pools=["default", "gpu"])
    WorkerHost.objects.create(
        host_id="gone", last_seen_at=now - timedelta(minutes=5), pools=["gpu"]
    )
    return template


def test_a_scrape_reports_jobs_steps_pools_durations_backlog_and_live_hosts(client, known_state):
    m = scrape(client, HTTP_AUTHORIZATION="Bearer s3cret-token")

    assert m[("jobsite_jobs", (("status", "succeeded"),))] == 3
    assert m[("jobsite_jobs", (("status", "failed"),))] == 2
    assert m[("jobsite_jobs", (("status", "running"),))] == 2
    assert m[("jobsite_jobs", (("status", "queued"),))] == 1
    assert m[("jobsite_jobs", (("status", "canceled"),))] == 0

    assert m[("jobsite_steps", (("pool", "default"), ("status", "running")))] == 1
    assert m[("jobsite_steps", (("pool", "default"), ("status", "queued")))] == 1
    assert m[("jobsite_steps", (("pool", "gpu"), ("status", "running")))] == 0
    assert m[("jobsite_steps", (("pool", "gpu"), ("status", "queued")))] == 2

    assert 119 <= m[("jobsite_oldest_queued_step_age_seconds", (("pool", "gpu"),))] < 140
    assert 4 <= m[("jobsite_oldest_queued_step_age_seconds", (("pool", "default"),))] < 30

    assert m[("jobsite_webhook_deliveries_pending", ())] == 2
    assert m[("jobsite_worker_hosts_alive", (("pool", "default"),))] == 2
    assert m[("jobsite_worker_hosts_alive", (("pool", "gpu"),))] == 1
    assert ("jobsite_broker_queue_depth", (("pool", "gpu"),)) in m

    label = ("template", "acme/build")
    assert m[("jobsite_step_duration_seconds_count", (label,))] == 4
    assert m[("jobsite_step_duration_seconds_sum", (label,))] == pytest.approx(104.2, abs=0.01)
    assert m[("jobsite_step_duration_seconds_bucket", (("le", "0.1"), label))] == 0
    assert m[("jobsite_step_duration_seconds_bucket", (("le", "0.5"), label))] == 1
    assert m[("jobsite_step_duration_seconds_bucket", (("le", "5.0"), label))] == 3
    assert m[("jobsite_step_duration_seconds_bucket", (("le", "300.0"), label))] == 4
    assert m[("jobsite_step_duration_seconds_bucket", (("le", "+Inf"), label))] == 4


def test_a_staff_session_may_scrape(client, known_state):
    staff = get_user_model().objects.create_user(
        "sam-staff", "s@example.invalid", "pw", is_staff=True
    )
    client.force_login(staff)
    assert scrape(client)[("jobsite_jobs", (("status", "succeeded"),))] == 3


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", "Bearer s3cret-toke", "Basic czNjcmV0LXRva2Vu", "s3cret-token"],
)
def test_no_token_or_a_wrong_one_gets_401_and_no_numbers(client, known_state, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = client.get("/metrics", **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"jobsite_jobs" not in response.content


def test_a_logged_in_member_who_is_not_staff_cannot_scrape(client, known_state, admin_user):
    client.force_login(admin_user)
    assert client.get("/metrics").status_code == 401


def test_without_a_configured_token_even_an_empty_bearer_is_refused(client, known_state, settings):
    settings.JOBSITE_METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401
