"""A section's writes held under the job's lock and sent with its events, on PostgreSQL
(jobsite/sent_together.py): a chain step's finish and the next step's claim are four
round trips, and a held write that misses rolls its section back."""

import threading
import time

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.engine.states import StepStatus
from jobs.engine.steps import EagerClaim, claim_step, finish_step
from jobs.engine.transitions import change_step_status, locked_job
from jobs.executors.base import Outcome
from jobs.models import EventKind, JobEvent, StepRun
from jobs.services import create_job
from jobsite.sent_together import HeldWriteMissed
from tests.jobs.helpers import make_template
from tests.perf.test_engine_queries import round_trips

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="round trips: PostgreSQL"),
]

CHAIN = """
slug: chain-of-three
name: Chain of three
steps:
  - id: one
    type: noop
  - id: two
    type: noop
    needs: [one]
  - id: three
    type: noop
    needs: [two]
"""


@pytest.fixture
def chain(workspace):
    job = create_job(workspace, template=make_template(workspace, CHAIN))
    return job, {step.step_id: step for step in StepRun.objects.filter(job=job)}


@pytest.fixture(autouse=True)
def holding_again():
    yield
    connection.held_writes_paused_until = 0.0


def test_a_chain_steps_finish_and_the_next_claim_are_four_round_trips(chain):
    """BEGIN; the job locked (its steps known from the claim); the step's finish, the
    next step queued and claimed, the job's progress, its seq and the events; COMMIT.
    They were nine, each UPDATE a round trip of its own."""
    job, steps = chain
    known, _ = claim_step(steps["one"].pk, 1, "worker-1")
    eager = EagerClaim("worker-1")
    with CaptureQueriesContext(connection) as captured:
        assert finish_step(steps["one"].pk, 1, Outcome.ok(), eager=eager, known=known)
    assert eager.step is not None and eager.step.step_id == "two"
    assert round_trips(captured) <= 4, [query["sql"][:80] for query in captured.captured_queries]
    two = StepRun.objects.get(pk=steps["two"].pk)
    assert (two.status, two.worker_id) == ("running", "worker-1")
    seqs = list(JobEvent.objects.filter(job=job).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))


def behind_the_lock(sql, params):
    """Run `sql` on a connection of its own (another thread), as a writer that does not
    take the job's lock would."""

    def run():
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute(sql, params)
        finally:
            connections["default"].close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)


def test_a_held_write_that_misses_rolls_its_section_back(chain, caplog):
    job, steps = chain
    claim_step(steps["one"].pk, 1, "worker-1")
    with pytest.raises(HeldWriteMissed):
        with locked_job(step_run_id=steps["one"].pk, engine=True) as locked:
            step = next(each for each in locked.step_runs if each.step_id == "one")
            # the row changes behind the job's lock: the finish's fence no longer holds
            behind_the_lock("UPDATE jobs_steprun SET attempt = 2 WHERE id = %s", [step.pk])
            finish = {"finished_at": timezone.now(), "lease_expires_at": None, "exit_code": 0}
            finish.update(outputs={}, error="", progress=100.0)  # finish_step's named UPDATE
            assert change_step_status(locked, step, StepStatus.SUCCEEDED, attempt=1, **finish)
    one = StepRun.objects.get(pk=steps["one"].pk)
    assert (one.status, one.attempt) == ("running", 2)  # the finish was rolled back
    assert not JobEvent.objects.filter(job=job, kind=EventKind.STEP_STATUS, data__to="succeeded")
    assert "held write" in caplog.text
    # the connection writes one statement at a time for a while: the same finish is
    # now refused by its fence, as before
    assert connection.held_writes_paused_until > time.monotonic()
    assert not finish_step(steps["one"].pk, 1, Outcome.ok())
    assert StepRun.objects.get(pk=steps["one"].pk).status == "running"
