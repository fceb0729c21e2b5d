"""Eager dispatch (SPEC §7): a worker that finishes a step runs one step its finish made
ready at once, in the same process, with a normal claim — no broker round trip — and
hands the others to the broker as before. Not while its host drains, not a step that
may not run here, not one that would outlive the django-q2 task, and never past a
concurrency limit."""

import time

import pytest
from django.conf import settings as django_settings
from django_q.brokers import get_broker

from jobs.engine.queue import pool_broker
from jobs.engine.steps import claim_step, finish_step
from jobs.executors.base import Outcome
from jobs.models import EventKind, Job, StepRun
from jobs.services import create_job
from jobs.worker import hosts, step_runner
from jobs.worker.step_runner import run_claimed_step, run_step
from tests.jobs.helpers import make_template, step_statuses

pytestmark = pytest.mark.django_db(transaction=True)

CHAIN = """
slug: chain-three
name: Chain of three
steps:
  - {id: one, type: noop, with: {outputs: {n: 1}}}
  - {id: two, type: noop, needs: [one], with: {outputs: {m: "{{ steps.one.outputs.n }}"}}}
  - {id: three, type: noop, needs: [two]}
"""

FAN_OUT = """
slug: fan-out
name: Fan out
steps:
  - {id: root, type: noop}
  - {id: b, type: noop, needs: [root]}
  - {id: c, type: noop, needs: [root]}
  - {id: d, type: noop, needs: [root]}
"""

LIMITED = """
slug: limited-chain
name: Limited chain
settings:
  concurrency: {limit: 1, when_full: queue}
steps:
  - {id: first, type: noop}
  - {id: second, type: noop, needs: [first]}
"""

JOIN = """
slug: join
name: Join
steps:
  - {id: left, type: noop}
  - {id: right, type: noop}
  - {id: both, type: noop, needs: [left, right]}
"""


def broker_tasks():
    """Tasks waiting in the broker (the ORM's or Redis, whichever the run uses)."""
    return get_broker().queue_size()


@pytest.fixture(autouse=True)
def empty_broker(transactional_db):
    get_broker().purge_queue()
    yield
    get_broker().purge_queue()


def first_step(job, step_id):
    return StepRun.objects.get(job=job, step_id=step_id)


def test_a_chained_job_runs_every_next_step_in_the_same_worker_without_the_broker(workspace):
    job = create_job(workspace, template=make_template(workspace, CHAIN))
    assert broker_tasks() == 1  # the first step's task, enqueued by the start
    one = first_step(job, "one")

    assert run_step(one.pk, one.attempt) == "succeeded"

    job.refresh_from_db()
    assert job.status == "succeeded"
    assert broker_tasks() == 1  # nothing more went through the broker
    steps = list(job.steps.order_by("position"))
    assert {step.worker_id for step in steps} == {step_runner.worker_id()}
    assert steps[1].outputs == {"m": 1}  # the eager step saw its upstream's outputs
    # Each step still went queued → running → succeeded, in order, with no gap in seq.
    events = list(job.events.order_by("seq").values_list("seq", "kind", "step_id", "data"))
    assert [seq for seq, *_ in events] == list(range(1, job.last_event_seq + 1))
    moves = [
        (step_id, data["to"]) for _, kind, step_id, data in events if kind == EventKind.STEP_STATUS
    ]
    assert moves == [
        ("one", "queued"),
        ("one", "running"),
        ("one", "succeeded"),
        ("two", "queued"),
        ("two", "running"),
        ("two", "succeeded"),
        ("three", "queued"),
        ("three", "running"),
        ("three", "succeeded"),
    ]


def test_an_eagerly_claimed_step_has_a_lease_and_its_attempt_fences_a_late_finish(workspace):
    job = create_job(workspace, template=make_template(workspace, CHAIN))
    one = first_step(job, "one")
    claimed_job, claimed = claim_step(one.pk, one.attempt, "w:1")
    eager = step_runner.EagerClaim("w:1")
    assert finish_step(one.pk, one.attempt, Outcome.ok({}), eager=eager, known=claimed_job)

    two = first_step(job, "two")
    assert eager.step.pk == two.pk
    assert two.status == "running" and two.worker_id == "w:1" and two.attempt == 1
    assert two.lease_expires_at is not None and two.started_at is not None
    # A finish of another attempt (a zombie) changes nothing.
    assert not finish_step(two.pk, two.attempt + 1, Outcome.ok({}))
    assert first_step(job, "two").status == "running"


def test_a_fan_out_claims_one_newly_ready_step_and_enqueues_the_others(workspace):
    job = create_job(workspace, template=make_template(workspace, FAN_OUT))
    root = first_step(job, "root")
    claimed_job, _ = claim_step(root.pk, root.attempt, "w:1")
    eager = step_runner.EagerClaim("w:1")

    assert finish_step(root.pk, root.attempt, Outcome.ok({}), eager=eager, known=claimed_job)

    assert eager.step.step_id == "b"
    assert step_statuses(job) == {"root": "succeeded", "b": "running", "c": "queued", "d": "queued"}
    assert broker_tasks() == 1 + 2  # root's own task, then c and d
    # The worker that runs `b` takes `c` at its finish, then `d` (tests/jobs/test_next_step_claims.py).


def test_a_draining_worker_does_not_claim_eagerly(workspace):
    job = create_job(workspace, template=make_template(workspace, CHAIN))
    one = first_step(job, "one")
    claimed_job, step = claim_step(one.pk, one.attempt, step_runner.worker_id())
    hosts.beat()
    hosts.request_drain()  # told to drain while `one` runs
    hosts._drain_cache["checked"] = 0.0  # as once DRAIN_CHECK_SECONDS have passed
    try:
        assert run_claimed_step(claimed_job, step, time.monotonic()) == ("succeeded", None)
    finally:
        hosts._drain_cache.update(checked=0.0, draining=False)

    assert step_statuses(job) == {"one": "succeeded", "two": "queued", "three": "pending"}
    assert first_step(job, "two").worker_id == ""
    assert broker_tasks() == 2  # `two` went to the broker for another host


def test_a_step_of_another_pool_is_not_claimed_eagerly_but_sent_to_its_pool(workspace, settings):
    settings.JOBSITE_POOLS = ["default"]  # this host's pools (SPEC §14)
    pool_broker("gpu").purge_queue()
    source = CHAIN.replace("needs: [one],", "needs: [one], runs_on: gpu,")
    job = create_job(workspace, template=make_template(workspace, source))
    one = first_step(job, "one")

    run_step(one.pk, one.attempt)

    assert step_statuses(job) == {"one": "succeeded", "two": "queued", "three": "pending"}
    assert first_step(job, "two").worker_id == ""
    assert pool_broker("gpu").queue_size() == 1
    pool_broker("gpu").purge_queue()


def test_a_step_that_could_outlive_the_django_q2_task_goes_through_the_broker(workspace, settings):
    settings.Q_CLUSTER = {**django_settings.Q_CLUSTER, "timeout": 120}
    source = CHAIN.replace("needs: [one],", "needs: [one], timeout: 90,")
    job = create_job(workspace, template=make_template(workspace, source))
    one = first_step(job, "one")

    run_step(one.pk, one.attempt)

    # 90 s + kill grace + a minute's margin does not fit in a 120 s task.
    assert step_statuses(job) == {"one": "succeeded", "two": "queued", "three": "pending"}


def test_an_eager_claim_never_runs_a_step_of_a_job_waiting_for_a_concurrency_slot(workspace):
    template = make_template(workspace, LIMITED)
    holder = create_job(workspace, template=template)
    waiting = create_job(workspace, template=template)
    waiting.refresh_from_db()
    assert waiting.status == "queued" and waiting.waiting_reason.startswith("waiting for a slot")
    first = first_step(holder, "first")

    run_step(first.pk, first.attempt)

    holder.refresh_from_db()
    assert holder.status == "succeeded"  # its own next step ran eagerly: it holds the slot
    assert {s.worker_id for s in holder.steps.all()} == {step_runner.worker_id()}
    waiting.refresh_from_db()
    assert waiting.status == "queued"  # started only by the dispatcher, when the slot frees
    assert step_statuses(waiting) == {"first": "pending", "second": "pending"}


def test_a_finish_reads_the_steps_again_when_another_worker_changed_them_since_its_claim(workspace):
    job = create_job(workspace, template=make_template(workspace, JOIN))
    left, right = first_step(job, "left"), first_step(job, "right")
    left_job, _ = claim_step(left.pk, left.attempt, "w:1")
    claim_step(right.pk, right.attempt, "w:2")
    assert finish_step(right.pk, right.attempt, Outcome.ok({}))  # the other worker first

    # w:1's copy of the steps says `right` is running; the job's seq has moved, so the
    # finish reads them again and sees that `both` is ready now.
    assert finish_step(left.pk, left.attempt, Outcome.ok({}), known=left_job)

    assert step_statuses(job) == {"left": "succeeded", "right": "succeeded", "both": "queued"}
    assert Job.objects.get(pk=job.pk).status == "running"
