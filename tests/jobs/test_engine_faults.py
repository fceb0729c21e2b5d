"""The engine when things go wrong: stale workers, dead workers, retries, timeouts,
cancel of running steps, concurrency limits."""

import os
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.engine.concurrency import ConcurrencyRejected
from jobs.engine.faults import enqueue_due_retries, reap_expired_leases
from jobs.engine.steps import claim_step, finish_step, renew_lease
from jobs.engine.transitions import TransitionRefused
from jobs.executors.base import Outcome
from jobs.models import EventKind, Job, StepRun
from jobs.services import cancel_job, create_job
from jobs.worker.dispatcher import dispatch_once
from tests.conftest import run_queued_tasks
from tests.jobs.helpers import events_of, make_template, step_statuses
from tests.processes import unique_sleep, wait_until_gone


def one_step(workspace, step_yaml, slug="single", settings_yaml=""):
    source = f"slug: {slug}\nname: {slug}\nvariables:\n  region: {{type: string, default: eu}}\nsteps:\n{step_yaml}\n{settings_yaml}"
    return make_template(workspace, source)


def claim_first(job, worker="w1"):
    step = job.steps.order_by("position").first()
    return claim_step(step.pk, step.attempt, worker)


def test_a_duplicate_delivery_of_a_task_claims_nothing(workspace, transactional_db):
    job = create_job(workspace, template=one_step(workspace, "  - {id: s, type: noop}"))
    step = job.steps.get()
    assert claim_step(step.pk, step.attempt, "w1") is not None
    assert claim_step(step.pk, step.attempt, "w2") is None
    assert StepRun.objects.get(pk=step.pk).worker_id == "w1"


def test_a_stale_worker_resuming_after_its_step_was_reclaimed_changes_nothing(
    workspace, transactional_db
):
    template = one_step(
        workspace, "  - {id: s, type: noop, idempotent: true, retries: 2, retry_backoff: 0}"
    )
    job = create_job(workspace, template=template)
    step = job.steps.get()
    assert claim_step(step.pk, 1, "paused-worker")
    # The paused worker stops heartbeating; its lease runs out and the reaper reclaims.
    StepRun.objects.filter(pk=step.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert reap_expired_leases() == 1
    assert enqueue_due_retries() == 1
    assert claim_step(step.pk, 2, "new-worker")
    # The paused worker wakes up and reports: every write is fenced on its attempt.
    assert renew_lease(step.pk, 1) is False
    assert finish_step(step.pk, 1, Outcome.fail("late failure")) is False
    fresh = StepRun.objects.get(pk=step.pk)
    assert (fresh.status, fresh.attempt, fresh.worker_id, fresh.error) == (
        "running",
        2,
        "new-worker",
        "worker lost",
    )
    assert finish_step(step.pk, 2, Outcome.ok({"x": 1})) is True
    job.refresh_from_db()
    assert job.status == "succeeded"


def test_a_claimed_step_that_never_heartbeats_is_reaped_as_lost_when_not_idempotent(
    workspace, transactional_db
):
    job = create_job(
        workspace,
        template=one_step(workspace, "  - {id: s, type: shell, with: {command: ['true']}}"),
    )
    assert claim_first(job)
    assert reap_expired_leases(now=timezone.now() + timedelta(seconds=120)) == 1
    job.refresh_from_db()
    assert step_statuses(job) == {"s": "lost"}
    assert job.status == "failed" and "worker lost" in job.error
    # Never re-run on its own: nothing is due, nothing is queued.
    assert enqueue_due_retries() == 0


def test_failed_attempts_are_retried_with_backoff_and_each_attempt_is_an_event(
    workspace, run_tasks, settings
):
    # The step counts its attempts in a host file: a sandboxed step cannot reach one, and
    # this test is about the engine's retries, not about containment.
    settings.JOBSITE_SANDBOX = "off"
    marker = f"/tmp/jobsite-retry-{os.getpid()}-{time.monotonic_ns()}"
    step = (
        "  - id: flaky\n    type: shell\n    retries: 2\n    retry_backoff: 0.2\n"
        "    with:\n      script: |\n"
        f"        n=$(cat {marker} 2>/dev/null || echo 0); echo $((n+1)) > {marker}\n"
        "        echo attempt $((n+1)); test $n -ge 2"
    )
    job = create_job(workspace, template=one_step(workspace, step))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        run_tasks()
        dispatch_once()
        job.refresh_from_db()
        if job.is_terminal:
            break
        time.sleep(0.1)
    os.unlink(marker)
    assert job.status == "succeeded"
    assert job.steps.get().attempt == 3
    transitions = [(e.data["to"], e.data["attempt"]) for e in events_of(job, EventKind.STEP_STATUS)]
    assert transitions.count(("retrying", 1)) == 1 and transitions.count(("retrying", 2)) == 1
    assert ("succeeded", 3) in transitions
    assert [e.message for e in events_of(job, EventKind.LOG)] == [
        "attempt 1",
        "attempt 2",
        "attempt 3",
    ]


# A second of waiting for the timeout; by default tests/containment/test_no_orphans.py
# times a step out through the engine (and its escaped child with it), and
# tests/executors/test_shell.py times one out in the executor.
@pytest.mark.slow
def test_a_step_timeout_kills_the_whole_process_group(workspace, run_tasks):
    marker = unique_sleep()
    step = (
        "  - id: slow\n    type: shell\n    timeout: 1\n    with:\n      script: |\n"
        f"        (trap '' TERM; sleep {marker}) &\n        sleep 60"
    )
    job = create_job(workspace, template=one_step(workspace, step))
    started = time.monotonic()
    run_tasks()
    assert time.monotonic() - started < 6
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.steps.get().error == "timed out after 1 s"
    assert wait_until_gone(marker) == []


# By default tests/containment/test_no_orphans.py cancels a running shell step through the
# engine within 3 s (its escaped child too), and tests/executors/test_shell.py cancels one
# whose children ignore SIGTERM.
@pytest.mark.slow
def test_canceling_a_running_shell_step_stops_every_process_within_3_seconds(workspace, run_tasks):
    marker = unique_sleep()
    step = (
        "  - id: busy\n    type: shell\n    with:\n      script: |\n"
        f"        (trap '' TERM; sleep {marker}) &\n        echo started\n        trap '' TERM\n        sleep 60"
    )
    job = create_job(workspace, template=one_step(workspace, step))
    worker = threading.Thread(target=run_queued_tasks)
    worker.start()
    deadline = time.monotonic() + 10
    while not job.events.filter(message="started").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    requested = time.monotonic()
    cancel_job(job)
    while time.monotonic() - requested < 5:
        job.refresh_from_db()
        if job.is_terminal:
            break
        time.sleep(0.05)
    elapsed = time.monotonic() - requested
    worker.join(timeout=10)
    assert job.status == "canceled", job.status
    assert elapsed < 3, f"canceled after {elapsed:.2f} s"
    assert wait_until_gone(marker) == []
    assert step_statuses(job) == {"busy": "canceled"}
    with pytest.raises(TransitionRefused, match="already canceled"):
        cancel_job(job)


def test_force_cancel_ends_a_job_whose_worker_is_gone(workspace, transactional_db):
    job = create_job(
        workspace, template=one_step(workspace, "  - {id: s, type: sleep, with: {seconds: 30}}")
    )
    assert claim_first(job, "dead-worker")
    cancel_job(job)
    job.refresh_from_db()
    assert job.status == "running"  # waits for the worker's heartbeat…
    cancel_job(job, force=True)  # …which will never come
    job.refresh_from_db()
    assert job.status == "canceled" and step_statuses(job) == {"s": "canceled"}


def test_a_job_past_its_timeout_is_canceled_by_the_dispatcher(workspace, transactional_db):
    template = one_step(
        workspace,
        "  - {id: s, type: sleep, with: {seconds: 30}}",
        settings_yaml="settings: {timeout: 5}",
    )
    job = create_job(workspace, template=template)
    assert claim_first(job)
    Job.objects.filter(pk=job.pk).update(started_at=timezone.now() - timedelta(seconds=6))
    assert dispatch_once()["timed_out"] == 1
    job.refresh_from_db()
    assert job.cancel_requested_at and job.error == "timed out after 5 s"


LIMITED = 'settings:\n  concurrency: {{limit: 1, key: "{{{{ vars.region }}}}", when_full: {mode}}}'


def test_a_job_over_the_concurrency_limit_waits_with_a_reason_and_starts_when_a_slot_frees(
    workspace, run_tasks
):
    template = one_step(
        workspace, "  - {id: s, type: noop}", settings_yaml=LIMITED.format(mode="queue")
    )
    first = create_job(workspace, template=template, variables={"region": "eu"})
    second = create_job(workspace, template=template, variables={"region": "eu"})
    other_region = create_job(workspace, template=template, variables={"region": "us"})
    assert second.status == "queued"
    assert second.waiting_reason == "waiting for a slot: 1 job running with key eu (limit 1)"
    assert step_statuses(second) == {"s": "pending"}
    assert other_region.waiting_reason == "waiting for a free worker"
    run_tasks()
    first.refresh_from_db()
    assert first.status == "succeeded"
    assert dispatch_once()["started"] == 1
    run_tasks()
    second.refresh_from_db()
    assert second.status == "succeeded" and second.waiting_reason == ""


def test_reject_refuses_a_job_over_the_limit_and_creates_nothing(workspace, transactional_db):
    template = one_step(
        workspace, "  - {id: s, type: noop}", settings_yaml=LIMITED.format(mode="reject")
    )
    create_job(workspace, template=template)
    with pytest.raises(ConcurrencyRejected, match="1 job running with key eu"):
        create_job(workspace, template=template)
    assert Job.objects.count() == 1


def test_cancel_previous_stops_the_running_job_and_the_new_one_takes_its_place(
    workspace, run_tasks
):
    template = one_step(
        workspace, "  - {id: s, type: noop}", settings_yaml=LIMITED.format(mode="cancel_previous")
    )
    first = create_job(workspace, template=template)
    second = create_job(workspace, template=template)
    first.refresh_from_db()
    assert first.status == "canceled" and "cancel_previous" in first.error
    assert "previous job" in second.waiting_reason
    assert dispatch_once()["started"] == 1
    run_tasks()
    second.refresh_from_db()
    assert second.status == "succeeded"
