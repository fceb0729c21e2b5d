"""What creating jobs costs the database (issue 15): a created job is a fixed handful of
statements, and a batch of N jobs costs the same statements as a batch of one — one
INSERT each for the jobs, their steps, their events and their tasks — so a change that
brings back a statement per job shows up here. The jobs made that way are the ones the
one-by-one path made: events gap-free and in order, every first step queued once."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_q.brokers import get_broker

from jobs.models import EventKind, Job, StepRun, WebhookDelivery, WebhookEndpoint
from jobs.services import create_job, create_jobs, prepare_job
from tests.api.conftest import client_for
from tests.jobs.helpers import make_template

pytestmark = pytest.mark.django_db(transaction=True)

FAN = """
slug: fan
name: Fan
variables:
  token: {type: secret, default: s3cret-value}
steps:
  - {id: a, type: noop}
  - {id: b, type: noop}
  - {id: join, type: noop, needs: [a, b]}
"""


def copy_round_trip() -> int:
    """On PostgreSQL a batch's events (from COPY_FROM) go by COPY, a statement of its
    own, where a batch of one sends its events' INSERT with its job's and steps' INSERTs
    (jobs/engine/events.py, docs/benchmarks.md round 8a): one more round trip,
    whatever the batch's size."""
    return 1 if connection.vendor == "postgresql" else 0


def statements(action):
    with CaptureQueriesContext(connection) as captured:
        action()
    return [query["sql"] for query in captured.captured_queries]


def test_a_started_job_is_created_in_seven_statements(workspace):
    template = make_template(workspace, FAN)
    create_job(workspace, template=template)  # warm: a process reads a few things once
    sql = statements(lambda: create_job(workspace, template=template))
    # BEGIN, the workspace's webhook flag, the job, its steps, its events, the tasks of
    # its two first steps, COMMIT; on PostgreSQL (Redis: the tasks after commit) the
    # webhook flag and the job's, steps' and events' INSERTs are one string, one round
    # trip (rounds 8a and 9d)
    assert len(sql) <= (3 if connection.vendor == "postgresql" else 7), "\n".join(sql)
    assert sum(statement.lstrip().upper().startswith("UPDATE") for statement in sql) == 0


def test_a_batch_costs_the_same_statements_whatever_its_size(workspace):
    template = make_template(workspace, FAN)

    def batch(n):
        return lambda: create_jobs([prepare_job(workspace, template=template) for _ in range(n)])

    batch(1)()  # warm
    one, many = statements(batch(1)), statements(batch(300))
    assert len(many) == len(one) + copy_round_trip() <= 7, "\n".join(many)
    assert Job.objects.count() == 302


def test_jobs_created_in_one_batch_have_their_events_and_tasks_as_one_by_one(workspace, run_tasks):
    template = make_template(workspace, FAN)
    get_broker().purge_queue()  # Redis keeps what an earlier test left
    alone = create_job(workspace, template=template)
    batch = create_jobs([prepare_job(workspace, template=template) for _ in range(20)])

    def history(job):
        return [
            (seq, kind, step_id, message, data)
            for seq, kind, step_id, message, data in job.events.order_by("seq").values_list(
                "seq", "kind", "step_id", "message", "data"
            )
        ]

    assert history(alone) == [
        (1, EventKind.JOB_STATUS, "", "Job queued", {"from": "draft", "to": "queued"}),
        (2, EventKind.STEP_STATUS, "a", "Step a queued (attempt 1)", {"from": "pending", "to": "queued", "attempt": 1}),
        (3, EventKind.STEP_STATUS, "b", "Step b queued (attempt 1)", {"from": "pending", "to": "queued", "attempt": 1}),
    ]  # fmt: skip
    for job in batch:
        job.refresh_from_db()
        assert history(job) == history(alone) and job.last_event_seq == 3
        assert job.status == "queued" and job.waiting_reason == alone.waiting_reason
    # every first step queued, none of the joins; a doorbell for at most K (the cluster's
    # 2 workers) of them an enqueue: the lone job's two, the batch's two — the workers
    # that answer go down the queue (run_tasks below runs every job); the secret sealed,
    # shown masked
    assert get_broker().queue_size() == 2 + 2
    assert StepRun.objects.filter(status="queued", attempt=1).count() == 2 * 21
    assert StepRun.objects.filter(status="pending", attempt=0, step_id="join").count() == 21
    assert batch[0].unsealed_values()[0]["token"] == "s3cret-value"
    assert batch[0].variables["token"] != "s3cret-value"
    run_tasks()
    assert set(Job.objects.values_list("status", flat=True)) == {"succeeded"}
    for job in Job.objects.all():
        assert list(job.events.order_by("seq").values_list("seq", flat=True)) == list(
            range(1, job.last_event_seq + 1)
        )


def test_the_batch_endpoint_costs_the_same_statements_for_10_jobs_as_for_100(workspace, api_key):
    make_template(workspace, FAN)
    client = client_for(api_key())

    def post(n):
        response = client.post(
            "/api/v1/jobs/batch/", {"jobs": [{"template": "fan"}] * n}, format="json"
        )
        assert response.status_code == 201, response.content[:300]

    post(1)  # warm
    ten, hundred = statements(lambda: post(10)), statements(lambda: post(100))
    assert len(hundred) == len(ten), "\n".join(hundred)
    assert Job.objects.count() == 111


def test_post_jobs_is_the_key_the_template_and_the_seven_statements_of_a_create(workspace, api_key):
    make_template(workspace, FAN)
    client = client_for(api_key())

    def post():
        response = client.post("/api/v1/jobs/", {"template": "fan"}, format="json")
        assert response.status_code == 201, response.content[:300]

    post()  # warm
    sql = statements(post)
    assert len(sql) <= 9, "\n".join(sql)
    if connection.vendor == "sqlite":
        # The template is read before the create's transaction, not under the
        # database's write lock (PostgreSQL's BEGIN is not a captured statement).
        begin = next(i for i, statement in enumerate(sql) if statement.startswith("BEGIN"))
        assert [i for i, statement in enumerate(sql) if "jobtemplate" in statement] < [begin]


def test_with_a_webhook_endpoint_a_batch_records_its_deliveries_in_one_insert(workspace):
    template = make_template(workspace, FAN)
    endpoint = WebhookEndpoint.objects.create(workspace=workspace, url="https://hooks.example/x")
    get_broker().purge_queue()  # Redis keeps what an earlier test left

    def batch(n):
        return lambda: create_jobs([prepare_job(workspace, template=template) for _ in range(n)])

    batch(1)()  # warm
    one, many = statements(batch(1)), statements(batch(300))
    inserts = [sql for sql in many if "INSERT INTO" in sql and "webhookdelivery" in sql]
    assert len(inserts) == 1, "\n".join(many)
    # every job has its job.queued delivery, each with its own job in the payload
    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint, event="job.queued")
    assert deliveries.count() == 302
    assert {d.payload["data"]["id"] for d in deliveries} == {
        str(job.pk) for job in Job.objects.all()
    }
    # and the whole batch, the deliveries' tasks sent after commit included, is the
    # statements of a batch of one (it was 3 more a job: the endpoints, the delivery, its task)
    assert len(many) == len(one) + copy_round_trip(), "\n".join(many)
    # a delivery a job, and the doorbells of at most K (2) first steps a batch
    assert get_broker().queue_size() == 302 + 3 * 2
