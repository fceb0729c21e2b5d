"""The steps' status indexes are partial (jobs/models/jobs.py, StepRun.Meta.indexes): each
holds the steps of the one status it serves, so a step's status change rewrites at most
two index entries and a finished step sits in none (docs/benchmarks.md, round 8d).

A partial index is only read by a query that names its status alone: these tests run
every query of the dispatcher, the reaper, the eager claim, the metrics and the cluster
page that reads steps by status, and check from the database's own plan that each reads
its index rather than the whole table; and, on SQLite, that a step run writes fewer pages
than it did with the three full (status, …) indexes."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.engine import faults, pools
from jobs.engine.steps import of_pools
from jobs.models import StepRun
from jobs.services import create_job
from jobs.worker.step_runner import run_step
from jobsite.named_sql import statement
from tests.jobs.helpers import ONE_NOOP, make_template, step_of

pytestmark = pytest.mark.django_db(transaction=True)


def plan(sql: str, params=()) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            return " | ".join(str(row[-1]) for row in cursor.fetchall())
        # The tables are tiny here: without this the planner would read them whole.
        cursor.execute("SET enable_seqscan = off")
        try:
            cursor.execute("EXPLAIN " + sql, params)
            return " | ".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_seqscan")


def step_queries(captured: CaptureQueriesContext) -> list[str]:
    return [
        query["sql"]
        for query in captured.captured_queries
        if "jobs_steprun" in query["sql"] and '"status" = ' in query["sql"]
    ]


def assert_reads_index(sql: str, index: str) -> None:
    shown = plan(sql)
    assert index in shown, f"{sql}\nread without {index}: {shown}"


@pytest.fixture
def some_steps(workspace):
    template = make_template(workspace, ONE_NOOP)
    for _ in range(3):
        create_job(workspace, template=template)


@pytest.mark.usefixtures("some_steps")
@pytest.mark.parametrize(
    "run, index",
    [
        (faults.reap_expired_leases, "steprun_running_lease"),
        (faults.enqueue_due_retries, "steprun_retrying_next"),
        (pools.queued_pools, "steprun_queued"),
        (pools.oldest_queued_per_pool, "steprun_queued"),
        (lambda: of_pools([{"pool": "other"}] * 4, ["default"]), "steprun_queued"),
    ],
)
def test_the_dispatchers_and_the_reapers_reads_use_their_status_index(run, index):
    with CaptureQueriesContext(connection) as captured:
        run()
    queries = step_queries(captured)
    assert queries, "no query of steps by status was made"
    assert_reads_index(queries[0], index)


@pytest.mark.usefixtures("some_steps")
def test_the_counts_of_the_metrics_and_the_cluster_page_use_the_status_indexes():
    with CaptureQueriesContext(connection) as captured:
        counts = pools.active_steps_per_pool()
        known = pools.pools_known()
    assert counts == {("default", "queued"): 3}
    assert "default" in known
    queries = step_queries(captured)
    assert len(queries) == 5  # two counts, three statuses' pools
    for sql, index in zip(
        queries,
        [
            "steprun_running_lease",
            "steprun_queued",
            "steprun_queued",
            "steprun_running_lease",
            "steprun_retrying_next",
        ],
        strict=True,
    ):
        assert_reads_index(sql, index)


@pytest.mark.usefixtures("some_steps")
@pytest.mark.parametrize("name", ["oldest_queued_steps", "oldest_queued_steps_of_any_job"])
def test_the_eager_claims_look_for_queued_steps_reads_the_queued_index(name):
    sql = statement(name, connection.vendor)
    params = {"job_id": "00000000-0000-0000-0000-000000000000"}
    if connection.vendor == "sqlite":
        sql = sql.replace("%(job_id)s", ":job_id")
    assert "steprun_queued" in plan(sql, params)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's write-ahead log")
def test_a_step_run_writes_fewer_pages(workspace):
    """The pages SQLite appends to its log a one-step job run (claim, run, finish), with
    3,000 finished steps in the table as a database in use has: with the three full
    (status, …) indexes a status change moves each index's entry from one leaf page to
    another."""
    template = make_template(workspace, ONE_NOOP)
    finished = step_of(create_job(workspace, template=template))
    run_step(finished.pk, finished.attempt)
    finished.refresh_from_db()
    columns = {
        field.attname: getattr(finished, field.attname)
        for field in StepRun._meta.concrete_fields
        if not field.primary_key
    }
    StepRun.objects.bulk_create(
        StepRun(**{**columns, "step_id": f"history-{i}", "position": i + 2}) for i in range(3000)
    )
    jobs = [create_job(workspace, template=template) for _ in range(60)]
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint = 0")
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    try:
        for job in jobs:  # the first goes down the queue: each finish claims the next
            step = step_of(job)
            run_step(step.pk, step.attempt)
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            frames = cursor.fetchone()[1]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_autocheckpoint = 1000")
    assert all(step_of(job).status == "succeeded" for job in jobs)
    # 21.6–21.8 pages a job with the full indexes, 17.4–17.6 with the partial ones.
    assert 0 < frames / len(jobs) <= 19.5, f"{frames / len(jobs):.1f} pages a job"
