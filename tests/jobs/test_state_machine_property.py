"""Property: no sequence of claim / heartbeat / finish / reap / cancel / retry reaches
a transition outside the table, changes a finished job or step, or moves progress back."""

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.engine.faults import enqueue_due_retries, reap_expired_leases
from jobs.engine.lifecycle import start_waiting_jobs
from jobs.engine.states import JOB_TERMINAL, JOB_TRANSITIONS, STEP_TERMINAL, STEP_TRANSITIONS
from jobs.engine.steps import claim_step, finish_step, renew_lease
from jobs.engine.transitions import TransitionRefused
from jobs.executors.base import Outcome
from jobs.models import EventKind, StepRun
from jobs.services import cancel_job, create_job
from tests.jobs.helpers import make_template

SOURCE = """
slug: prop
name: Property
steps:
  - {id: a, type: noop, idempotent: true, retries: 2, retry_backoff: 0}
  - {id: b, type: shell, needs: [a], retries: 1, retry_backoff: 0, with: {command: ["true"]}}
  - {id: c, type: noop, continue_on_failure: true}
"""

ACTIONS = st.sampled_from(
    [
        "claim",
        "claim_stale",
        "heartbeat",
        "heartbeat_stale",
        "succeed",
        "fail",
        "finish_stale",
        "reap",
        "retry",
        "cancel",
        "force_cancel",
        "dispatch",
    ]
)


def apply(action, job, step):
    step.refresh_from_db()
    now = timezone.now()
    if action == "claim":
        claim_step(step.pk, step.attempt, "w")
    elif action == "claim_stale":
        claim_step(step.pk, max(step.attempt - 1, 0), "zombie")
    elif action == "heartbeat":
        renew_lease(step.pk, step.attempt)
    elif action == "heartbeat_stale":
        renew_lease(step.pk, step.attempt - 1)
    elif action == "succeed":
        finish_step(step.pk, step.attempt, Outcome.ok({"n": 1}))
    elif action == "fail":
        finish_step(step.pk, step.attempt, Outcome.fail("boom"))
    elif action == "finish_stale":
        finish_step(step.pk, step.attempt - 1, Outcome.ok())
    elif action == "reap":
        StepRun.objects.filter(pk=step.pk, status="running").update(
            lease_expires_at=now - timedelta(seconds=1)
        )
        reap_expired_leases()
    elif action == "retry":
        StepRun.objects.filter(pk=step.pk, status="retrying").update(
            next_attempt_at=now - timedelta(seconds=1)
        )
        enqueue_due_retries()
    elif action in ("cancel", "force_cancel"):
        try:
            cancel_job(job, force=action == "force_cancel")
        except TransitionRefused:
            assert job.__class__.objects.get(pk=job.pk).status in JOB_TERMINAL
    elif action == "dispatch":
        start_waiting_jobs()


SCRIPTS = st.lists(st.tuples(ACTIONS, st.integers(0, 2)), min_size=1, max_size=30)
PROPERTY = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}


# Each example is a job driven through up to 30 actions: the default suite tries 20
# scripts, the slow suite (CI) 300.
@settings(max_examples=20, **PROPERTY)
@given(script=SCRIPTS)
def test_no_sequence_of_engine_actions_breaks_the_state_machine(workspace, script):
    check_script(workspace, script)


@pytest.mark.slow
@settings(max_examples=300, **PROPERTY)
@given(script=SCRIPTS)
def test_no_sequence_of_engine_actions_breaks_the_state_machine_in_300_scripts(workspace, script):
    check_script(workspace, script)


def check_script(workspace, script):
    template = make_template(workspace, SOURCE)
    job = create_job(workspace, template=template)
    steps = list(job.steps.order_by("position"))
    finished_job_status = None
    finished_steps = {}
    last_progress = 0.0
    for action, index in script:
        apply(action, job, steps[index])
        job.refresh_from_db()
        if finished_job_status:
            assert job.status == finished_job_status, (
                f"a {finished_job_status} job changed to {job.status}"
            )
        elif job.status in JOB_TERMINAL:
            finished_job_status = job.status
        for step in job.steps.all():
            if step.step_id in finished_steps:
                assert step.status == finished_steps[step.step_id], (
                    f"finished step {step.step_id} changed"
                )
            elif step.status in STEP_TERMINAL:
                finished_steps[step.step_id] = step.status
        assert job.progress >= last_progress
        last_progress = job.progress
    events = list(job.events.order_by("seq"))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    for event in events:
        if event.kind == EventKind.JOB_STATUS:
            assert event.data["to"] in JOB_TRANSITIONS[event.data["from"]]
        elif event.kind == EventKind.STEP_STATUS:
            assert event.data["to"] in STEP_TRANSITIONS[event.data["from"]]
