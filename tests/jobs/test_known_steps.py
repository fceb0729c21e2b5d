"""A worker's finish reuses the steps its claim read and catches up only on what other
sections changed since (jobs/engine/locked_reads.py current_steps): a fan-out's siblings
finished by another worker are read again, the other steps are not."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.engine import locked_reads
from jobs.engine.steps import claim_step, finish_step
from jobs.engine.transitions import locked_job
from jobs.executors.base import Outcome
from jobs.models import StepRun
from jobs.services import create_job
from tests.jobs.helpers import make_template

FAN = """
slug: fan-of-three
name: Fan of three
steps:
  - id: a
    type: noop
  - id: b
    type: noop
  - id: c
    type: noop
  - id: join
    type: noop
    needs: [a, b, c]
"""


def seen(steps):
    return {step.step_id: (step.status, step.attempt, step.outputs) for step in steps}


@pytest.fixture
def fan(workspace, settings):
    # Unprepared on PostgreSQL, so that each read is seen by its text.
    settings.JOBSITE_DB_PREPARED_STATEMENTS = False
    job = create_job(workspace, template=make_template(workspace, FAN))
    return job, {step.step_id: step for step in StepRun.objects.filter(job=job)}


def test_a_finish_after_a_siblings_finish_reads_only_the_steps_it_changed(fan):
    job, steps = fan
    known, _ = claim_step(steps["a"].pk, 1, "worker-1")
    # another worker claims b and finishes it while a runs
    other, _ = claim_step(steps["b"].pk, 1, "worker-2")
    assert finish_step(steps["b"].pk, 1, Outcome.ok({"n": 2}), known=other)
    with CaptureQueriesContext(connection) as captured:
        with locked_job(step_run_id=steps["a"].pk, engine=True, known=known) as locked:
            in_section = seen(locked.step_runs)
    assert in_section == seen(StepRun.objects.filter(job=job))
    assert in_section["b"] == ("succeeded", 1, {"n": 2})
    sql = [query["sql"] for query in captured.captured_queries]
    assert [text for text in sql if "event.seq >" in text], sql  # caught up by the events
    assert not [text for text in sql if "ORDER BY step.position" in text], sql  # not all read


def test_a_finish_far_behind_reads_every_step_again(fan, monkeypatch):
    job, steps = fan
    known, _ = claim_step(steps["a"].pk, 1, "worker-1")
    other, _ = claim_step(steps["b"].pk, 1, "worker-2")
    assert finish_step(steps["b"].pk, 1, Outcome.ok(), known=other)
    monkeypatch.setattr(locked_reads, "CATCH_UP_EVENTS", 1)  # b moved the seq by two
    with CaptureQueriesContext(connection) as captured:
        with locked_job(step_run_id=steps["a"].pk, engine=True, known=known) as locked:
            in_section = seen(locked.step_runs)
    assert in_section == seen(StepRun.objects.filter(job=job))
    assert [query for query in captured.captured_queries if "ORDER BY step.position" in query["sql"]]  # fmt: skip


def test_the_fan_out_still_runs_to_the_end(fan, run_tasks):
    job, _ = fan
    run_tasks()
    job.refresh_from_db()
    assert job.status == "succeeded"
    assert set(StepRun.objects.filter(job=job).values_list("status", flat=True)) == {"succeeded"}
