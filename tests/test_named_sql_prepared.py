"""On PostgreSQL the named statements are prepared once per connection and then sent as
EXECUTE (jobsite/named_sql.py): every statement of every queries.sql must prepare (its
parameters' types inferred from where they stand), give the rows and row counts the
plain statement gives, survive a rollback, and recover when the server's copy is gone
or out of date."""

import pytest
from django.db import DataError, OperationalError, connection, transaction

from jobs.models import Job, StepRun
from jobs.services import create_job
from jobs.worker.step_runner import run_step
from jobsite.named_sql import all_queries, execute, fetch, fetch_sets
from tests.jobs.helpers import ONE_NOOP, make_template, step_of

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PREPARE: PostgreSQL"),
]


def server_statements() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cursor.fetchall()}


def test_every_named_statement_prepares_on_postgresql():
    from jobsite.prepared_sql import parametrized

    names = {name for name, vendor in all_queries() if vendor in ("", "postgresql")}
    with connection.cursor() as cursor:
        for name in sorted(names):
            body, _ = parametrized(
                all_queries().get((name, "postgresql")) or all_queries()[name, ""]
            )
            cursor.execute(f"PREPARE probe_{name} AS {body}".replace("%%", "%"))
            cursor.execute(f"DEALLOCATE probe_{name}")


def test_a_statement_is_prepared_once_and_its_rows_are_the_plain_statements(workspace, settings):
    job = create_job(workspace, template=make_template(workspace, ONE_NOOP))
    step = step_of(job)
    settings.JOBSITE_DB_PREPARED_STATEMENTS = False
    plain = fetch_sets(["job_of_step_for_update", "steps_of_job_of_step"], Job, step_run_id=step.pk)
    assert not any(name.startswith("jobsite_steps_of_job_of_step") for name in server_statements())
    settings.JOBSITE_DB_PREPARED_STATEMENTS = True
    for _ in range(7):  # past the server's five custom plans, to its generic one
        with transaction.atomic():
            prepared = fetch_sets(
                ["job_of_step_for_update", "steps_of_job_of_step"], Job, step_run_id=step.pk
            )
        assert prepared == plain
    ours = [name for name in server_statements() if name.startswith("jobsite_steps_of_job_of_step")]
    assert len(ours) == 1
    # a compare-and-set's row count comes through EXECUTE
    assert execute("save_last_event_seq", Job, job_id=job.pk, last_event_seq=job.last_event_seq, updated_at=job.updated_at) == 1  # fmt: skip
    assert fetch("step_is_queued", StepRun, step_run_id=step.pk, attempt=step.attempt + 5) == []


def test_a_failed_string_prepares_again_under_a_new_name_after_the_rollback(workspace):
    job = create_job(workspace, template=make_template(workspace, ONE_NOOP))
    with pytest.raises(DataError), transaction.atomic():
        # a job id that is no UUID: the EXECUTE fails after its PREPARE went through
        fetch("steps_of_job", StepRun, job_id="not a uuid")
    before = server_statements()
    assert fetch("steps_of_job", StepRun, job_id=job.pk)[0]["job_id"] == job.pk
    assert fetch("steps_of_job", StepRun, job_id=job.pk)[0]["job_id"] == job.pk
    assert len(server_statements() - before) == 1


def test_a_statement_the_server_dropped_fails_once_as_operational_then_prepares_again(
    workspace,
):
    """A pooler or DISCARD ALL drops a session's statements; a migration that adds a
    column changes what `job.*` is (the server then refuses the cached plan). Both raise
    OperationalError — what the worker waits out and tries again — and the next call
    prepares again."""
    job = create_job(workspace, template=make_template(workspace, ONE_NOOP))
    step = step_of(job)
    assert fetch("steps_of_job", StepRun, job_id=job.pk)
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    with pytest.raises(OperationalError):
        fetch("steps_of_job", StepRun, job_id=job.pk)
    assert fetch("steps_of_job", StepRun, job_id=job.pk)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE jobs_steprun ADD COLUMN probe_extra integer")
    try:
        with pytest.raises(OperationalError):
            fetch("steps_of_job", StepRun, job_id=job.pk)
        assert fetch("steps_of_job", StepRun, job_id=job.pk)[0]["probe_extra"] is None
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE jobs_steprun DROP COLUMN probe_extra")
    # the statements prepared with the extra column are refused again once it is gone
    with pytest.raises(OperationalError):
        fetch("steps_of_job", StepRun, job_id=job.pk)
    assert run_step(step.pk, step.attempt) == "succeeded"
