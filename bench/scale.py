#!/usr/bin/env python
"""(d) Scale: the jobs list page, the dashboard, a job page and the API list with 10k,
100k and 1M jobs (~10 events each, so ~10M events at 1M) in PostgreSQL. Target: the
time at the largest size ÷ the time at the smallest ≤ 1.5 for every page.

History grows the way it does in production: one job a minute, and each new level adds
OLDER jobs below the ones already there (the newest 10k rows — what runs now and what
ran today — stay the same). 5 % of jobs failed; the 20 newest are running or queued.
Rows are made with `INSERT … SELECT generate_series` in batches (not the ORM), then
`VACUUM ANALYZE`. Pages are requested in this process through Django's test client
(median of several requests after warming up), so the figures are the app's and the
database's time, without a network.

    .venv/bin/python bench/scale.py             # 10k, 100k, 1M jobs (about 15 minutes)
    .venv/bin/python bench/scale.py --quick     # 2k and 20k jobs (make bench)
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Bench, fmt, make_fixtures, markdown_table, retrying, save_results  # noqa: E402

SCALE_TEMPLATE = """
slug: bench-scale
name: Nightly export
type: export
variables:
  days: {type: integer, default: 7}
  region: {type: string, default: eu}
steps:
  - id: fetch
    type: noop
    with: {outputs: {rows: 42}}
  - id: report
    type: report
    needs: [fetch]
    with:
      markdown: "# Export of {{ vars.days }} days"
"""
BATCH = 100_000
EVENTS_PER_JOB = 10
ACTIVE_NEWEST = 20
REQUESTS = 21


def insert_jobs(fixtures, start, stop, now):
    """Jobs number start..stop-1, job i created i minutes before `now`, with 2 steps and
    EVENTS_PER_JOB events each."""
    template = fixtures["templates"]["bench-scale"]
    params = {
        "ws": str(fixtures["workspace"].pk),
        "tpl": str(template.pk),
        "ver": template.current_version_id,
        "definition": _json(template.current_version.definition),
        "now": now,
    }
    for lo in range(start, stop, BATCH):
        hi = min(lo + BATCH, stop)
        retrying(lambda lo=lo, hi=hi: _insert_batch(params, lo, hi, now))
    if start == 0:
        retrying(lambda: _mark_newest_active(params["ws"]))


def _insert_batch(params, lo, hi, now):
    from django.db import connection, transaction

    began = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO jobs_job (
                id, workspace_id, template_id, template_version_id, definition, name, type, status,
                trigger, created_by, variables, params, inputs, callback_url, created_at, updated_at,
                queued_at, started_at, finished_at, total_steps, completed_steps, progress, error,
                waiting_reason, concurrency_key, timeout_seconds, cancel_requested_at,
                result_markdown, result_outputs, original_job_id, attempt, last_event_seq)
            SELECT gen_random_uuid(), %(ws)s, %(tpl)s, %(ver)s, %(definition)s::jsonb,
                   'Nightly export #' || i, 'export',
                   CASE WHEN i %% 20 = 7 THEN 'failed' ELSE 'succeeded' END,
                   CASE WHEN i %% 3 = 0 THEN 'schedule' ELSE 'api' END, 'key:bench',
                   '{"days": 7, "region": "eu"}', '{}', '{}', '',
                   t, t + interval '3 seconds', t, t + interval '100 ms', t + interval '3 seconds',
                   2, 2, 100.0,
                   CASE WHEN i %% 20 = 7 THEN 'step fetch failed: exited with code 1' ELSE '' END,
                   '', '', NULL, NULL, '# Export of 7 days', '{}', NULL, 1, %(events)s
            FROM (SELECT i, %(now)s::timestamptz - i * interval '1 minute' AS t
                  FROM generate_series(%(lo)s, %(hi)s - 1) AS i) AS numbered
            """,
            {**params, "lo": lo, "hi": hi, "events": EVENTS_PER_JOB},
        )
        window = {"newest": _at(now, lo), "oldest": _at(now, hi - 1)}
        cursor.execute(
            """
            INSERT INTO jobs_steprun (
                job_id, step_id, position, type, status, needs, attempt, max_attempts, idempotent,
                continue_on_failure, timeout_seconds, queued_at, started_at, finished_at,
                next_attempt_at, worker_id, lease_expires_at, heartbeat_at, exit_code, error,
                outputs, progress, log_bytes, reused_from_id)
            SELECT j.id, s.step_id, s.position, s.type,
                   CASE WHEN j.status = 'failed' AND s.position = 0 THEN 'failed'
                        WHEN j.status = 'failed' THEN 'skipped' ELSE 'succeeded' END,
                   s.needs::jsonb, 1, 1, true, false, NULL, j.queued_at,
                   j.started_at + s.position * interval '1 second',
                   j.started_at + (s.position + 1) * interval '1 second',
                   NULL, 'bench-host:1', NULL, NULL, 0, '', '{"rows": 42}', 100.0, 600, NULL
            FROM jobs_job j
            CROSS JOIN (VALUES ('fetch', 0, 'noop', '[]'), ('report', 1, 'report', '["fetch"]'))
                 AS s(step_id, position, type, needs)
            WHERE j.workspace_id = %(ws)s AND j.created_at BETWEEN %(oldest)s AND %(newest)s
            """,
            {**params, **window},
        )
        cursor.execute(
            """
            INSERT INTO jobs_jobevent (job_id, seq, kind, step_id, level, message, data, created_at)
            SELECT j.id, g,
                   CASE WHEN g IN (1, %(events)s) THEN 'job.status'
                        WHEN g IN (2, %(events)s - 1) THEN 'step.status' ELSE 'log' END,
                   CASE WHEN g IN (1, %(events)s) THEN '' ELSE 'fetch' END,
                   CASE WHEN g IN (1, 2, %(events)s - 1, %(events)s) THEN '' ELSE 'INFO' END,
                   'fetched page ' || g || ' of the export',
                   '{}', j.created_at + g * interval '100 ms'
            FROM jobs_job j CROSS JOIN generate_series(1, %(events)s) AS g
            WHERE j.workspace_id = %(ws)s AND j.created_at BETWEEN %(oldest)s AND %(newest)s
            """,
            {**params, **window, "events": EVENTS_PER_JOB},
        )
    print(f"   inserted jobs {lo:,}–{hi - 1:,} ({time.monotonic() - began:.0f} s)", flush=True)


def _mark_newest_active(workspace_id):
    from django.db import connection

    with connection.cursor() as cursor:
        # The newest jobs are still going: half running, half waiting for a worker.
        cursor.execute(
            """
            UPDATE jobs_job SET status = CASE WHEN rn %% 2 = 0 THEN 'running' ELSE 'queued' END,
                   finished_at = NULL, progress = 50.0, completed_steps = 1,
                   waiting_reason = CASE WHEN rn %% 2 = 0 THEN '' ELSE 'waiting for a free worker' END
            FROM (SELECT id, row_number() OVER (ORDER BY created_at DESC) AS rn FROM jobs_job
                  WHERE workspace_id = %(ws)s ORDER BY created_at DESC LIMIT %(n)s) AS newest
            WHERE jobs_job.id = newest.id
            """,
            {"ws": workspace_id, "n": ACTIVE_NEWEST},
        )


def _json(value):
    import json

    return json.dumps(value)


def _at(now, index):
    from datetime import timedelta

    return now - timedelta(minutes=index)


def vacuum():
    from django.db import connection

    began = time.monotonic()
    with connection.cursor() as cursor:
        for table in ("jobs_job", "jobs_steprun", "jobs_jobevent"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    print(f"   vacuum analyze ({time.monotonic() - began:.0f} s)", flush=True)


def pages(fixtures):
    """{name: (path, headers)}: the pages and API lists, with cursors taken from the data."""
    from jobs.keyset import encode_cursor
    from jobs.models import Job
    from jobs.views.job_list import PAGE_SIZE

    api_cursor = page_cursor = encode_cursor  # one cursor format for the pages and the API

    jobs = Job.objects.filter(workspace=fixtures["workspace"]).order_by("-created_at", "-id")
    newest_finished = jobs.filter(finished_at__isnull=False).first()
    oldest = jobs.last()
    page_end = jobs[PAGE_SIZE - 1]
    api_end = jobs[49]
    api = {"HTTP_AUTHORIZATION": f"Bearer {fixtures['key']}"}
    return {
        "jobs list": ("/jobs/", {}),
        "jobs list, next page": (f"/jobs/?older={page_cursor(page_end)}", {}),
        "jobs list, status=failed": ("/jobs/?status=failed", {}),
        "jobs list, template": ("/jobs/?template=bench-scale", {}),
        "dashboard": ("/", {}),
        "dashboard, live part (htmx)": ("/", {"HTTP_HX_REQUEST": "true"}),
        "job page (newest)": (f"/jobs/{newest_finished.pk}/", {}),
        "job page (oldest)": (f"/jobs/{oldest.pk}/", {}),
        "API list": ("/api/v1/jobs/", api),
        "API list, next page": (f"/api/v1/jobs/?cursor={api_cursor(api_end)}", api),
        "API list, status=failed": ("/api/v1/jobs/?status=failed", api),
        "API list, template": ("/api/v1/jobs/?template=bench-scale", api),
        "API job": (f"/api/v1/jobs/{newest_finished.pk}/", api),
    }


def explain(statements):
    """(shared buffers touched, execution ms) of a page's SELECTs, from PostgreSQL's own
    EXPLAIN (ANALYZE, BUFFERS): a count of pages read that no other process on the
    machine can disturb — it stays flat when a query does not grow with the table."""
    from django.db import connection

    buffers, ms = 0, 0.0
    with connection.cursor() as cursor:
        for sql, params in statements:
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
            plan = cursor.fetchone()[0]
            plan = plan[0] if isinstance(plan, list) else plan
            top = plan["Plan"]
            buffers += top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)
            ms += plan.get("Execution Time", 0.0)
    return buffers, ms


def measure(fixtures, requests):
    """{page: figures}. Each request of a page is paired with one of the bare view (one row
    by primary key, bench/bare_view.py) made right before it: the page's time ÷ the bare
    time of its pair cancels most of what other processes on the machine do to both."""
    from django.db import connection
    from django.test import Client

    from jobs.models import Job

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(fixtures["user"])
    reference = f"/bench/jobs/{Job.objects.filter(workspace=fixtures['workspace']).values_list('pk', flat=True)[0]}/"

    def timed(path, headers):
        began = time.perf_counter()
        response = client.get(path, **headers)
        elapsed = (time.perf_counter() - began) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}")
        return elapsed

    timings = {}
    for name, (path, headers) in pages(fixtures).items():
        for _ in range(2):
            timed(path, headers)
            timed(reference, {})
        statements = []

        def record(execute, sql, params, many, context, statements=statements):
            statements.append((sql, params))
            return execute(sql, params, many, context)

        with connection.execute_wrapper(record):
            client.get(path, **headers)
        buffers, db_ms = explain(statements)
        page_ms, relative = [], []
        for _ in range(requests):
            bare = timed(reference, {})
            page = timed(path, headers)
            page_ms.append(page)
            relative.append(page / bare)
        timings[name] = {
            "ms": statistics.median(page_ms),
            "min_ms": min(page_ms),
            "relative": statistics.median(relative),
            "queries": len(statements),
            "count_queries": sum("COUNT(" in sql.upper() for sql, _ in statements),
            "buffers": buffers,
            "db_ms": db_ms,
        }
        print(
            f"   {name}: {timings[name]['ms']:.1f} ms (× {timings[name]['relative']:.1f} the bare view), "
            f"{timings[name]['queries']} queries, {buffers} buffers, {db_ms:.2f} ms in PostgreSQL",
            flush=True,
        )
    return timings


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="10000,100000,1000000")
    parser.add_argument("--quick", action="store_true", help="2k and 20k jobs")
    parser.add_argument("--requests", type=int, default=REQUESTS)
    args = parser.parse_args()
    if args.quick:
        args.levels = "2000,20000"
    levels = [int(level) for level in args.levels.split(",")]

    from django.utils import timezone

    results = {}
    with Bench("pg-orm") as bench:
        bench.migrate()
        bench.setup_django()
        fixtures = make_fixtures(extra_templates=[SCALE_TEMPLATE])
        now = timezone.now()
        done = 0
        for level in levels:
            print(f"== {level:,} jobs", flush=True)
            insert_jobs(fixtures, done, level, now)
            done = level
            retrying(vacuum)
            results[level] = retrying(lambda: measure(fixtures, args.requests))

    small, large = levels[0], levels[-1]
    rows = []
    for name in results[small]:
        ratio = results[large][name]["relative"] / results[small][name]["relative"]
        rows.append(
            [name]
            + [fmt(results[level][name]["ms"], 1) for level in levels]
            + [
                fmt(results[large][name]["min_ms"] / results[small][name]["min_ms"]),
                fmt(ratio),
                f"{results[small][name]['buffers']} → {results[large][name]['buffers']}",
                f"{results[small][name]['db_ms']:.2f} → {results[large][name]['db_ms']:.2f}",
                results[large][name]["queries"],
                results[large][name]["count_queries"],
            ]
        )
    print()
    print(
        f"Time per request, ms (median of {args.requests}); target: {large:,} ÷ {small:,} ≤ 1.5, on the "
        "fastest of the requests (min), and on the median of times relative to the bare view measured in pairs"
    )
    ratio_name = f"{large // 1000:,}k ÷ {small // 1000:,}k"
    print(
        markdown_table(
            ["page"]
            + [f"{level:,} jobs" for level in levels]
            + [
                f"{ratio_name} (min)",
                f"{ratio_name} (paired)",
                "PG buffers",
                "PG ms",
                "queries",
                "COUNT queries",
            ],
            rows,
        )
    )
    print(f"raw figures: {save_results('scale', results)}")


if __name__ == "__main__":
    main()
