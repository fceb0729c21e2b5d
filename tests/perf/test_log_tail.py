"""logs/?tail=N reads the last lines in widening windows of seq (so it stays fast while
PostgreSQL's statistics lag behind a big step); it must still return exactly the last N
lines, whatever else sits between them in the event stream."""

from jobs.engine.events import record_events
from jobs.models import EventKind
from jobsite.models import Role
from tests.perf.test_query_counts import add_jobs, chain_template


def test_tail_finds_the_last_lines_behind_many_other_events(workspace, client, api_key):
    job = add_jobs(chain_template(workspace, 2, "chain-2"), 1, start=False)[0]  # 3 lines: line 0..2
    from jobs.engine.transitions import locked_job

    with locked_job(job.pk) as locked:
        record_events(
            locked, [{"kind": EventKind.LOG, "step_id": "s1", "level": "WARN", "message": "late"}]
        )
        record_events(
            locked,
            [
                {"kind": EventKind.PROGRESS, "step_id": "s1", "data": {"step_progress": i}}
                for i in range(60)
            ],
        )
    headers = {"HTTP_AUTHORIZATION": f"Bearer {api_key(Role.VIEWER)}"}

    def tail(query):
        return client.get(f"/api/v1/jobs/{job.pk}/logs/?{query}", **headers).content.decode()

    assert tail("tail=2") == "INFO: [s0] line 2\nWARN: [s1] late\n"
    assert (
        tail("tail=100")
        == "INFO: [s0] line 0\nINFO: [s0] line 1\nINFO: [s0] line 2\nWARN: [s1] late\n"
    )
    assert tail("tail=2&step=s0") == "INFO: [s0] line 1\nINFO: [s0] line 2\n"
    assert tail("tail=3&level=WARN") == "WARN: [s1] late\n"
    assert tail("tail=2&after=3") == "WARN: [s1] late\n"
