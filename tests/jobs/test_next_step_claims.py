"""Eager dispatch generalized (docs/engine.md): a worker whose finish makes no step ready
takes an already queued step — a sibling of the same job, else the oldest of another
job — in the same transaction, with a normal claim; that step's doorbell then finds it
taken and is answered by one unlocked read. Never a step of a pool this host does not
serve, never while draining, never a step of a job waiting for a concurrency slot, and
never by waiting for another job's lock."""

import threading

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django_q.brokers import get_broker

from jobs.engine.queue import pool_broker
from jobs.engine.steps import EagerClaim, claim_step, finish_step
from jobs.executors.base import Outcome
from jobs.models import EventKind, Job
from jobs.services import create_job
from jobs.worker import hosts, step_runner
from jobs.worker.step_runner import run_step
from tests.jobs.helpers import ONE_NOOP, make_template, step_of, step_statuses

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("empty_broker")]

FAN_OUT = """
slug: fan-out
name: Fan out
steps:
  - {id: a, type: noop}
  - {id: b, type: noop}
  - {id: c, type: noop}
  - {id: join, type: noop, needs: [a, b, c]}
"""


def moves(job):
    """(step, to) of the job's step status events, asserting their seq has no gap."""
    events = list(job.events.order_by("seq").values_list("seq", "kind", "step_id", "data"))
    assert [seq for seq, *_ in events] == list(range(1, job.last_event_seq + 1))
    return [
        (step_id, data["to"]) for _, kind, step_id, data in events if kind == EventKind.STEP_STATUS
    ]


def test_a_fan_out_runs_on_the_worker_that_finishes_each_sibling_and_the_doorbells_find_them_taken(
    workspace, settings
):
    settings.JOBSITE_DB_PREPARED_STATEMENTS = False  # each statement is sent as its SQL
    job = create_job(workspace, template=make_template(workspace, FAN_OUT))
    bells = [(step.pk, step.attempt) for step in job.steps.filter(status="queued")]
    assert len(bells) == 3 and get_broker().queue_size() == 2  # K: the cluster's 2 workers

    assert run_step(*bells[0]) == "succeeded"  # a, then b, c (queued siblings), then join

    job.refresh_from_db()
    assert job.status == "succeeded"
    assert {s.worker_id for s in job.steps.all()} == {step_runner.worker_id()}
    for step_id in ("a", "b", "c", "join"):
        assert [to for sid, to in moves(job) if sid == step_id] == [
            "queued",
            "running",
            "succeeded",
        ]
    # The siblings' doorbells: their step taken and nothing else queued, two unlocked
    # reads each, no transaction, nothing changed.
    for bell in bells[1:]:
        with CaptureQueriesContext(connection) as captured:
            assert run_step(*bell) == "not claimed"
        assert [q["sql"].split()[0] for q in captured.captured_queries] == ["SELECT", "SELECT"]
    assert Job.objects.get(pk=job.pk).last_event_seq == job.last_event_seq


def test_a_finish_takes_the_oldest_queued_step_of_another_job_in_the_same_transaction(workspace):
    template = make_template(workspace, ONE_NOOP)
    first, second, third = (create_job(workspace, template=template) for _ in range(3))
    claimed_job, _ = claim_step(step_of(first).pk, 1, "w:1")
    eager = EagerClaim("w:1")

    assert finish_step(step_of(first).pk, 1, Outcome.ok({}), eager=eager, known=claimed_job)

    taken = step_of(second)  # the oldest queued one, not the third
    assert eager.step.pk == taken.pk and eager.job.pk == second.pk
    assert taken.status == "running" and taken.worker_id == "w:1" and taken.attempt == 1
    assert taken.lease_expires_at is not None
    second.refresh_from_db()
    assert second.status == "running"
    assert moves(second) == [("only", "queued"), ("only", "running")]
    assert step_of(third).status == "queued"
    # Its doorbell changes nothing; the attempt still fences a zombie's finish.
    assert claim_step(taken.pk, 1, "w:2") is None
    assert not finish_step(taken.pk, 2, Outcome.ok({}))
    assert finish_step(taken.pk, 1, Outcome.ok({}), known=eager.job)
    second.refresh_from_db()
    assert second.status == "succeeded"
    assert moves(second)[-1] == ("only", "succeeded")


def test_one_task_runs_a_backlog_of_jobs_and_every_job_keeps_its_own_gap_free_events(workspace):
    template = make_template(workspace, ONE_NOOP)
    jobs = [create_job(workspace, template=template) for _ in range(5)]

    assert run_step(step_of(jobs[0]).pk, 1) == "succeeded"

    for job in jobs:
        job.refresh_from_db()
        assert job.status == "succeeded"
        assert moves(job) == [("only", "queued"), ("only", "running"), ("only", "succeeded")]
    assert [run_step(step_of(job).pk, 1) for job in jobs[1:]] == ["not claimed"] * 4


def test_a_doorbell_whose_step_was_taken_claims_the_oldest_queued_step_instead(workspace):
    """An idle worker joins a busy one going down the queue, rather than answering, behind
    it, the doorbells of steps the busy one already took."""
    template = make_template(workspace, ONE_NOOP)
    first, second, third = (create_job(workspace, template=template) for _ in range(3))
    claimed_job, _ = claim_step(step_of(first).pk, 1, "w:1")
    eager = EagerClaim("w:1")
    assert finish_step(step_of(first).pk, 1, Outcome.ok({}), eager=eager, known=claimed_job)
    assert eager.job.pk == second.pk  # w:1 took the second job's step

    # The second job's doorbell reaches another worker: it runs the third job's step.
    assert run_step(step_of(second).pk, 1) == "succeeded"

    assert step_of(third).status == "succeeded"
    assert step_of(third).worker_id == step_runner.worker_id()
    assert step_of(second).status == "running" and step_of(second).worker_id == "w:1"


def test_a_queued_step_of_a_pool_this_host_does_not_serve_is_left_to_its_pool(workspace, settings):
    settings.JOBSITE_POOLS = ["default"]
    pool_broker("gpu").purge_queue()
    mine = create_job(workspace, template=make_template(workspace, ONE_NOOP))
    gpu = create_job(
        workspace,
        template=make_template(
            workspace,
            ONE_NOOP.replace("one-noop", "gpu-noop").replace("noop}", "noop, runs_on: gpu}"),
        ),
    )
    assert step_of(gpu).pool == "gpu"

    assert run_step(step_of(mine).pk, 1) == "succeeded"

    assert step_statuses(gpu) == {"only": "queued"} and step_of(gpu).worker_id == ""
    assert run_step(step_of(mine).pk, 1) == "not claimed"  # a stale doorbell: not gpu's step
    assert step_statuses(gpu) == {"only": "queued"}
    pool_broker("gpu").purge_queue()


def test_a_draining_worker_takes_no_queued_step_of_another_job(workspace):
    template = make_template(workspace, ONE_NOOP)
    first, second = (
        create_job(workspace, template=template),
        create_job(workspace, template=template),
    )
    claimed = claim_step(step_of(first).pk, 1, step_runner.worker_id())
    hosts.beat()
    hosts.request_drain()
    hosts._drain_cache["checked"] = 0.0
    try:
        assert step_runner.run_claimed_step(*claimed, 0.0) == ("succeeded", None)
    finally:
        hosts._drain_cache.update(checked=0.0, draining=False)
    assert step_statuses(second) == {"only": "queued"}


def test_a_job_waiting_for_a_concurrency_slot_is_not_taken_and_starts_when_the_slot_frees(
    workspace,
):
    limited = make_template(
        workspace,
        ONE_NOOP.replace("one-noop", "limited") + "settings:\n  concurrency: {limit: 1}\n",
    )
    holder, waiting = (
        create_job(workspace, template=limited),
        create_job(workspace, template=limited),
    )
    waiting.refresh_from_db()
    assert waiting.waiting_reason.startswith("waiting for a slot")

    assert run_step(step_of(holder).pk, 1) == "succeeded"

    waiting.refresh_from_db()
    assert waiting.status == "queued" and step_statuses(waiting) == {"only": "pending"}


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks: PostgreSQL (SQLite locks the database)"
)
def test_a_job_locked_by_another_transaction_is_skipped_not_waited_for(workspace):
    template = make_template(workspace, ONE_NOOP)
    first, busy, free = (create_job(workspace, template=template) for _ in range(3))
    claimed_job, _ = claim_step(step_of(first).pk, 1, "w:1")
    locked, release = threading.Event(), threading.Event()

    def hold_busy_jobs_lock():
        try:
            with transaction.atomic():
                Job.objects.select_for_update().get(pk=busy.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_busy_jobs_lock)
    holder.start()
    try:
        assert locked.wait(10)
        eager = EagerClaim("w:1")
        assert finish_step(step_of(first).pk, 1, Outcome.ok({}), eager=eager, known=claimed_job)
        assert eager.job.pk == free.pk  # busy's step is older, but its job is held
    finally:
        release.set()
        holder.join()
    assert step_of(busy).status == "queued"
