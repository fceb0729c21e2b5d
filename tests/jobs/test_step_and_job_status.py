"""change_step_and_job_status: a step's compare-and-set and then its job's — on
PostgreSQL one statement (a CTE) — must behave as change_step_status followed, only when
it changed the step, by change_job_status: the same fences, the same rows, the same
events, gap-free."""

import pytest
from django.utils import timezone

from jobs.engine.transitions import change_step_and_job_status, locked_job
from jobs.models import Job
from jobs.services import create_job
from tests.jobs.helpers import ONE_NOOP, make_template, step_of

pytestmark = pytest.mark.django_db(transaction=True)


def claim(job, step, attempt):
    now = timezone.now()
    return change_step_and_job_status(
        job,
        step,
        "running",
        "running",
        attempt=attempt,
        message="claimed",
        job_message="Job started",
        job_fields={"started_at": now, "waiting_reason": ""},
        started_at=now,
        worker_id="w:1",
        lease_expires_at=now,
        heartbeat_at=now,
    )


def events_of(job):
    return list(job.events.order_by("seq").values_list("seq", "step_id", "data"))


def assert_gap_free(job):
    job.refresh_from_db()
    seqs = [seq for seq, _, _ in events_of(job)]
    assert seqs == list(range(1, job.last_event_seq + 1))


def test_both_change_and_their_events_follow_in_order(workspace):
    job = create_job(workspace, template=make_template(workspace, ONE_NOOP))
    with locked_job(job.pk, engine=True) as locked:
        assert claim(locked, step_of(locked), attempt=1)
    job.refresh_from_db()
    assert job.status == "running" and job.started_at is not None
    assert step_of(job).status == "running" and step_of(job).worker_id == "w:1"
    assert [(step_id, data["to"]) for _, step_id, data in events_of(job)][-2:] == [
        ("only", "running"),
        ("", "running"),
    ]
    assert_gap_free(job)


def test_a_stale_attempt_changes_neither_the_step_nor_the_job(workspace):
    job = create_job(workspace, template=make_template(workspace, ONE_NOOP))
    before = events_of(job)
    with locked_job(job.pk, engine=True) as locked:
        assert not claim(locked, step_of(locked), attempt=2)
        assert locked.status == "queued"
    job.refresh_from_db()
    assert job.status == "queued" and step_of(job).status == "queued"
    assert events_of(job) == before
    assert_gap_free(job)


def test_a_job_whose_row_moved_on_is_left_and_the_steps_event_seq_is_saved(workspace):
    """The job's compare-and-set fails (its row is no longer queued) while the step's
    succeeds: the step is claimed, the job's row keeps what the other writer left, and
    the step's event still gets its seq on the row."""
    job = create_job(workspace, template=make_template(workspace, ONE_NOOP))
    with locked_job(job.pk, engine=True) as locked:
        Job.objects.filter(pk=job.pk).update(status="running")  # behind the section's back
        assert claim(locked, step_of(locked), attempt=1)
        assert locked.status == "queued"  # its change was not applied
    job.refresh_from_db()
    assert job.started_at is None and step_of(job).status == "running"
    assert [(step_id, data["to"]) for _, step_id, data in events_of(job)][-1] == (
        "only",
        "running",
    )
    assert_gap_free(job)
