"""The engine's happy and unhappy paths, run through the real broker in-process."""

import threading
import time

import pytest

from jobs.engine.transitions import TransitionRefused
from jobs.models import EventKind, Job, JobEvent
from jobs.services import cancel_job, create_job, rerun_job, start_job
from tests.jobs.helpers import events_of, make_template, step_statuses

LINEAR = """
slug: linear
name: Linear
variables:
  who: {type: string, default: world}
steps:
  - id: greet
    type: shell
    with:
      script: |
        echo "hello $VAR_WHO"
        echo "greeting=hello $VAR_WHO" >> "$JOBSITE_OUTPUT"
  - id: shout
    type: noop
    needs: [greet]
    with:
      outputs: {said: "{{ steps.greet.outputs.greeting }}!"}
  - id: report
    type: report
    needs: [shout]
    with:
      markdown: "# Said: {{ steps.shout.outputs.said }}"
"""

FAILING = """
slug: failing
name: Failing
steps:
  - id: first
    type: shell
    with: {script: "echo about to fail; exit 4"}
  - id: second
    type: noop
    needs: [first]
  - id: third
    type: noop
    needs: [second]
"""

BRANCHES = """
slug: branches
name: Branches
steps:
  - id: a
    type: shell
    with: {script: "exit 1"}
  - id: a_after
    type: noop
    needs: [a]
  - id: b
    type: noop
  - id: b_after
    type: noop
    needs: [b]
"""

SOFT_FAIL = """
slug: soft
name: Soft failure
steps:
  - id: flaky
    type: shell
    continue_on_failure: true
    with: {script: "exit 2"}
  - id: after
    type: noop
    needs: [flaky]
"""


def test_a_job_runs_from_template_to_result(workspace, run_tasks):
    template = make_template(workspace, LINEAR)
    job = create_job(workspace, template=template, variables={"who": "Ada"})
    assert job.status == "queued"
    run_tasks()
    job.refresh_from_db()
    assert job.status == "succeeded"
    assert step_statuses(job) == {"greet": "succeeded", "shout": "succeeded", "report": "succeeded"}
    # Outputs flowed downstream through {{ }} and the last report is the result.
    assert job.result_markdown == "# Said: hello Ada!"
    assert job.progress == 100.0 and job.completed_steps == 3
    assert job.started_at and job.finished_at and job.finished_at >= job.started_at
    logs = [e.message for e in events_of(job, EventKind.LOG)]
    assert "hello Ada" in logs


def test_a_failed_step_skips_everything_below_it(workspace, run_tasks):
    job = create_job(workspace, template=make_template(workspace, FAILING))
    run_tasks()
    job.refresh_from_db()
    assert job.status == "failed"
    assert step_statuses(job) == {"first": "failed", "second": "skipped", "third": "skipped"}
    assert "first" in job.error and "exited with code 4" in job.error
    # Without a report step, the result is an automatic summary of the steps.
    assert "| first | failed" in job.result_markdown and "| third | skipped" in job.result_markdown


def test_a_failure_in_one_branch_leaves_the_other_branch_running_and_the_job_partial(
    workspace, run_tasks
):
    job = create_job(workspace, template=make_template(workspace, BRANCHES))
    run_tasks()
    job.refresh_from_db()
    assert step_statuses(job) == {
        "a": "failed",
        "a_after": "skipped",
        "b": "succeeded",
        "b_after": "succeeded",
    }
    assert job.status == "partial"


def test_continue_on_failure_lets_dependents_run_and_ends_partial(workspace, run_tasks):
    job = create_job(workspace, template=make_template(workspace, SOFT_FAIL))
    run_tasks()
    job.refresh_from_db()
    assert step_statuses(job) == {"flaky": "failed", "after": "succeeded"}
    assert job.status == "partial"


def test_two_ready_branches_run_at_the_same_time_with_two_workers(workspace, run_tasks):
    source = """
    slug: parallel
    name: Parallel
    steps:
      - {id: left, type: sleep, with: {seconds: 1}}
      - {id: right, type: sleep, with: {seconds: 1}}
      - {id: join, type: noop, needs: [left, right]}
    """
    job = create_job(workspace, template=make_template(workspace, source))
    started = time.monotonic()
    run_tasks(parallel=2)
    elapsed = time.monotonic() - started
    job.refresh_from_db()
    assert job.status == "succeeded"
    left, right = job.steps.get(step_id="left"), job.steps.get(step_id="right")
    # The two sleeps overlapped in time: each started before the other finished.
    assert left.started_at < right.finished_at and right.started_at < left.finished_at
    assert elapsed < 1.9


def test_a_draft_waits_until_it_is_started(workspace, run_tasks):
    job = create_job(workspace, template=make_template(workspace, LINEAR), start=False)
    run_tasks()
    job.refresh_from_db()
    assert job.status == "draft"
    assert set(step_statuses(job).values()) == {"pending"}
    start_job(job)
    with pytest.raises(TransitionRefused):
        start_job(job)
    run_tasks()
    job.refresh_from_db()
    assert job.status == "succeeded"


def test_canceling_a_draft_or_queued_job_is_immediate_and_a_finished_one_is_refused(
    workspace, run_tasks
):
    template = make_template(workspace, LINEAR)
    draft = create_job(workspace, template=template, start=False)
    cancel_job(draft)
    draft.refresh_from_db()
    assert draft.status == "canceled" and set(step_statuses(draft).values()) == {"skipped"}

    queued = create_job(workspace, template=template)
    cancel_job(queued)
    run_tasks()  # its task was already enqueued: the claim must not run it
    queued.refresh_from_db()
    assert queued.status == "canceled"
    assert not events_of(queued, EventKind.LOG)
    with pytest.raises(TransitionRefused, match="already canceled"):
        cancel_job(queued)


def test_every_status_change_is_an_event_and_terminal_jobs_never_change(workspace, run_tasks):
    job = create_job(workspace, template=make_template(workspace, LINEAR))
    run_tasks()
    job.refresh_from_db()
    statuses = [e.data["to"] for e in events_of(job, EventKind.JOB_STATUS)]
    assert statuses == ["queued", "running", "succeeded"]
    seqs = list(job.events.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1)) and job.last_event_seq == seqs[-1]
    with pytest.raises(TransitionRefused):
        cancel_job(job)
    job.refresh_from_db()
    assert job.status == "succeeded"


def test_rerun_of_failed_steps_reuses_what_succeeded(workspace, run_tasks):
    source = """
    slug: half
    name: Half
    variables:
      ok: {type: boolean, default: false}
    steps:
      - id: prepare
        type: shell
        with:
          script: |
            echo made > "$JOBSITE_ARTIFACTS/prepared.txt"
            echo token=abc >> "$JOBSITE_OUTPUT"
      - id: risky
        type: shell
        needs: [prepare]
        with:
          script: |
            test "$VAR_OK" = true
            echo "token was $(cat "$JOBSITE_INPUTS/prepare/prepared.txt")"
    """
    job = create_job(workspace, template=make_template(workspace, source))
    run_tasks()
    job.refresh_from_db()
    assert job.status == "failed"
    rerun = rerun_job(job, variables={"ok": True}, from_failed=True)
    run_tasks()
    rerun.refresh_from_db()
    assert rerun.status == "succeeded" and rerun.original_job_id == job.id and rerun.attempt == 2
    prepare = rerun.steps.get(step_id="prepare")
    assert prepare.reused_from is not None and prepare.outputs == {"token": "abc"}
    assert "token was made" in [e.message for e in events_of(rerun, EventKind.LOG)]
    assert rerun.artifacts.filter(name="step:prepare.prepared.txt").exists()


def test_secret_values_never_reach_the_stored_log(workspace, run_tasks):
    source = """
    slug: secretive
    name: Secretive
    variables:
      token: {type: secret, required: true}
    steps:
      - id: leak
        type: shell
        with:
          script: |
            echo "the token is $VAR_TOKEN"
            echo "ERROR: failing with $VAR_TOKEN" >&2
            exit 1
    """
    job = create_job(
        workspace, template=make_template(workspace, source), variables={"token": "s3cr3t-value"}
    )
    run_tasks()
    job.refresh_from_db()
    stored = list(JobEvent.objects.filter(job=job).values_list("message", flat=True))
    assert any("the token is ***" in message for message in stored)
    assert not any("s3cr3t-value" in message for message in stored)
    assert "s3cr3t-value" not in job.error and "s3cr3t-value" not in job.result_markdown
    assert job.masked_variables() == {"token": "***"}


def test_event_seq_has_no_gaps_under_two_concurrent_writers(workspace, run_tasks):
    """Two threads append to one job's stream while a reader follows after=<seq>: the
    reader sees every event exactly once, in order."""
    from django.db import connection

    from jobs.engine.events import record_events
    from jobs.engine.transitions import locked_job

    job = create_job(workspace, template=make_template(workspace, LINEAR), start=False)
    per_writer = 150
    seen = []
    done = threading.Event()

    def writer(name):
        try:
            for i in range(per_writer):
                with locked_job(job.pk) as locked:
                    record_events(
                        locked,
                        [
                            {
                                "kind": EventKind.LOG,
                                "step_id": name,
                                "level": "INFO",
                                "message": f"{name}-{i}",
                            }
                        ],
                    )
        finally:
            connection.close()

    def reader():
        after = 0
        try:
            while True:
                batch = list(
                    JobEvent.objects.filter(job=job, seq__gt=after)
                    .order_by("seq")
                    .values_list("seq", "message")
                )
                seen.extend(batch)
                if batch:
                    after = batch[-1][0]
                elif done.is_set():
                    return
                time.sleep(0.005)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("w1", "w2")]
    follower = threading.Thread(target=reader)
    follower.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    follower.join()
    seqs = [seq for seq, _ in seen]
    assert seqs == list(range(1, 2 * per_writer + 1))
    assert sorted(message for _, message in seen) == sorted(
        f"{n}-{i}" for n in ("w1", "w2") for i in range(per_writer)
    )
    assert Job.objects.get(pk=job.pk).last_event_seq == 2 * per_writer
