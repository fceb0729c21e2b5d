"""What one job costs the database, from create_job to its last event (issue 7 (a)).

The engine's sections read the job (with its webhook flag and workspace slug) and its
steps once, and write a section's events in one INSERT. These tests pin the number of
statements a one-step job makes, so that an innocent-looking change which adds a query
per transition shows up here rather than as a slower benchmark months later; and they
check that the events are still all there, gap-free, after the batching."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.engine.transitions import JOB_UPDATES, STEP_UPDATES
from jobs.models import EventKind, StepRun
from jobs.services import create_job, start_job
from jobs.worker.step_runner import run_step
from tests.jobs.helpers import make_template

pytestmark = pytest.mark.django_db(transaction=True)


def round_trips(captured: CaptureQueriesContext) -> int:
    """The statements a block sent, a COPY counted twice (the COPY, then its data and
    end): on PostgreSQL the wall time of the engine's sections is these round trips,
    ≈ 0.4 ms each under load, not CPU (docs/benchmarks.md, round 4d)."""
    return sum(
        2 if query["sql"].lstrip().upper().startswith("COPY") else 1
        for query in captured.captured_queries
    )


def on_postgresql() -> bool:
    return connection.vendor == "postgresql"


ONE_STEP = """
slug: one-noop
name: One noop
steps:
  - id: only
    type: noop
"""

TWO_STEPS = """
slug: two-noops
name: Two noops
steps:
  - id: first
    type: noop
    with: {outputs: {n: 1}}
  - id: second
    type: noop
    needs: [first]
"""


def test_a_one_step_job_is_created_claimed_and_finished_in_a_bounded_number_of_statements(
    workspace,
):
    template = make_template(workspace, ONE_STEP)
    # warm: the first job of a process reads a few things once
    warm = StepRun.objects.get(job=create_job(workspace, template=template))
    run_step(warm.pk, warm.attempt)
    # BEGIN, webhook check, job, step, events (an INSERT: a COPY is two round trips),
    # COMMIT; on SQLite the ORM broker's task too; on PostgreSQL the webhook check and
    # the job's, step's and events' INSERTs are one round trip (round 8a: it was 6;
    # round 9d: 4)
    with CaptureQueriesContext(connection) as create:
        job = create_job(workspace, template=template)
    assert round_trips(create) <= (3 if on_postgresql() else 7)
    step = StepRun.objects.get(job=job)
    # the doorbell's unlocked look at the step; claim: BEGIN, job and its steps (one
    # round trip on PostgreSQL, two on SQLite), step running, job running (one round
    # trip on PostgreSQL: a CTE of the two compare-and-sets), events, COMMIT; finish: the same without reading the steps again (the claim's are still
    # current: the job's last_event_seq has not moved) plus the look for a queued step
    # to take next (none; on PostgreSQL read with the job, no round trip of its own);
    # plus the host's drain flag, read at most once a second per process. On PostgreSQL
    # the finish's UPDATEs are held and go with its events (jobsite/sent_together.py,
    # round 10: it was 12)
    with CaptureQueriesContext(connection) as run:
        assert run_step(step.pk, step.attempt) == "succeeded"
    assert round_trips(run) <= (10 if on_postgresql() else 16)
    job.refresh_from_db()
    assert job.status == "succeeded" and job.progress == 100.0
    seqs = list(job.events.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, job.last_event_seq + 1)) and len(seqs) == 6


def test_every_status_change_of_a_plain_job_runs_its_named_statement(workspace, settings):
    """The six compare-and-sets of a one-step job have named statements in
    jobs/queries.sql; a change to the fields a transition sets must change its statement
    too, or it quietly falls back to building the UPDATE through the ORM. (A job created
    started goes in queued, with no UPDATE: the draft started here takes the
    statements' path. Unprepared, so that each is sent as its UPDATE; on PostgreSQL the
    claim and the job's start are one statement, a CTE of the two.)"""
    settings.JOBSITE_DB_PREPARED_STATEMENTS = False
    template = make_template(workspace, ONE_STEP)
    with CaptureQueriesContext(connection) as captured:
        job = start_job(create_job(workspace, template=template, start=False))
        step = StepRun.objects.get(job=job)
        assert run_step(step.pk, step.attempt) == "succeeded"
    # a section's held writes go in one string with the statement after them
    # (jobsite/sent_together.py): each of its statements is looked at
    updates = [
        sql
        for query in captured.captured_queries
        for sql in query["sql"].split(";\n")
        if sql.lstrip().upper().startswith(("UPDATE", "WITH"))
    ]
    status_updates = [sql for sql in updates if "status" in sql.split("WHERE")[0]]
    assert len(JOB_UPDATES) + len(STEP_UPDATES) == 6
    pairs = [sql for sql in status_updates if sql.count("UPDATE") == 2]
    assert len(pairs) == (1 if on_postgresql() else 0)
    assert len(status_updates) + len(pairs) == 6
    # The ORM quotes its columns; the named statements are written without quotes.
    assert not [sql for sql in status_updates if '"status"' in sql]


def test_batched_events_keep_their_order_and_the_seq_has_no_gap(workspace, run_tasks):
    job = create_job(workspace, template=make_template(workspace, TWO_STEPS))
    run_tasks()
    job.refresh_from_db()
    events = list(job.events.order_by("seq").values_list("seq", "kind", "step_id", "data"))
    assert [seq for seq, *_ in events] == list(range(1, job.last_event_seq + 1))
    transitions = [
        (step_id or "job", data["from"], data["to"])
        for _, kind, step_id, data in events
        if kind in (EventKind.JOB_STATUS, EventKind.STEP_STATUS)
    ]
    assert transitions == [
        ("job", "draft", "queued"),
        ("first", "pending", "queued"),
        ("first", "queued", "running"),
        ("job", "queued", "running"),
        ("first", "running", "succeeded"),
        ("second", "pending", "queued"),
        ("second", "queued", "running"),
        ("second", "running", "succeeded"),
        ("job", "running", "succeeded"),
    ]
    assert job.status == "succeeded" and job.last_event_seq == len(events)


def test_each_transition_of_a_chain_is_one_short_transaction_of_a_bounded_number_of_statements(
    workspace,
):
    """Eager dispatch: finishing a step of a chain claims the next one in the same
    transaction and runs it in the same worker. Per transition: BEGIN, the job locked,
    the step succeeded, the next queued and running (two compare-and-sets, two events),
    the progress, the events in one INSERT, their seq, COMMIT — and no read of the
    job's steps, whose in-memory copy is still current (locked_job's `known`)."""
    needs = {i: f", needs: [s{i - 1}]" if i else "" for i in range(12)}
    steps = "\n".join(f"  - {{id: s{i}, type: noop{needs[i]}}}" for i in range(12))
    template = make_template(workspace, f"slug: chain-12\nname: Chain\nsteps:\n{steps}\n")
    warm = StepRun.objects.get(job=create_job(workspace, template=template), step_id="s0")
    run_step(warm.pk, warm.attempt)
    job = create_job(workspace, template=template)
    first = StepRun.objects.get(job=job, step_id="s0")
    # the drain flag + the doorbell's look + the claim (5 on PostgreSQL, whose job and
    # steps are one round trip, and step and job running another; 7 on SQLite) + 11 transitions + the last finish (with its
    # look for a queued step to take next, read with the job on PostgreSQL); its events
    # an INSERT, not a COPY. On PostgreSQL a transition is four: BEGIN, the job, its
    # UPDATEs held and sent with its events, COMMIT (jobsite/sent_together.py, round 10)
    with CaptureQueriesContext(connection) as run:
        assert run_step(first.pk, first.attempt) == "succeeded"
    if on_postgresql():
        assert round_trips(run) <= 1 + 1 + 5 + 11 * 4 + 4
    else:
        assert round_trips(run) <= 1 + 1 + 7 + 11 * 9 + 6
    job.refresh_from_db()
    assert job.status == "succeeded"
    assert (
        StepRun.objects.filter(job=job)
        .exclude(worker_id=StepRun.objects.get(job=job, step_id="s0").worker_id)
        .count()
        == 0
    )
    seqs = list(job.events.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, job.last_event_seq + 1))


def test_a_finish_that_takes_another_jobs_queued_step_adds_only_that_claim_to_its_transaction(
    workspace, django_assert_max_num_queries
):
    """Round 4: a one-step job's finish makes nothing ready, so it takes the oldest queued
    step of another job in the same transaction — the look for it, that job locked with
    its steps, its step and its job running, its events — instead of a transaction of its
    own; the doorbell of the taken step is then two SELECTs (its step; anything else
    queued)."""
    template = make_template(workspace, ONE_STEP)
    warm = StepRun.objects.get(job=create_job(workspace, template=template))
    run_step(warm.pk, warm.attempt)
    first, second = (
        StepRun.objects.get(job=create_job(workspace, template=template)) for _ in "ab"
    )
    # drain flag, doorbell look, claim (5 on PostgreSQL, 7 on SQLite); finish of the
    # first (BEGIN, job, step succeeded, job succeeded, the look, the second job, its
    # steps, its step running, its job running, both jobs' events in one INSERT, COMMIT;
    # on PostgreSQL the look comes with the first job, the steps with the second, and
    # its job running with its step);
    # finish of the second (7; 6). On PostgreSQL the finishes' UPDATEs are held and go
    # with the next statement (round 10: 20 in all)
    with CaptureQueriesContext(connection) as run:
        assert run_step(first.pk, first.attempt) == "succeeded"
    assert round_trips(run) <= (1 + 1 + 5 + 5 + 4 if on_postgresql() else 1 + 1 + 7 + 11 + 7)
    # its step taken and nothing else queued: the look at its step, the look for another
    with django_assert_max_num_queries(2):
        assert run_step(second.pk, second.attempt) == "not claimed"
    assert set(
        StepRun.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", flat=True)
    ) == {"succeeded"}
