"""Pages and API lists cost the same number of queries however many jobs or steps they
show, and none of them counts rows: lists page by keyset, never by COUNT(*) over a
workspace's jobs or events (issue 7; the timings at 1M jobs are in docs/benchmarks.md).

Each test measures a page with a little data, adds more, and asserts with
`django_assert_max_num_queries` that the bigger page costs no more."""

import pytest
from django.test import Client

from jobs.engine.events import record_events
from jobs.engine.transitions import locked_job
from jobs.models import EventKind
from jobs.services import create_job
from jobsite.models import Role
from tests.jobs.helpers import make_template


def chain_template(workspace, steps, slug):
    lines = [f"slug: {slug}", f"name: {slug}", "steps:"]
    for i in range(steps):
        lines += [f"  - id: s{i}", "    type: noop"]
        if i:
            lines.append(f"    needs: [s{i - 1}]")
    return make_template(workspace, "\n".join(lines) + "\n")


def add_jobs(template, count, start=True):
    jobs = [create_job(template.workspace, template=template, start=start) for _ in range(count)]
    for job in jobs:
        with locked_job(job.pk) as locked:
            record_events(
                locked,
                [
                    {
                        "kind": EventKind.LOG,
                        "step_id": "s0",
                        "level": "INFO",
                        "message": f"line {i}",
                    }
                    for i in range(3)
                ],
            )
    return jobs


@pytest.fixture
def page_client(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def api_headers(api_key):
    return {"HTTP_AUTHORIZATION": f"Bearer {api_key(Role.VIEWER)}"}


def get(client, path, **headers):
    response = client.get(path, **headers)
    assert response.status_code == 200, response.content[:300]
    return response


def count_queries(captured):
    return [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]


@pytest.mark.parametrize("path", ["/jobs/", "/jobs/?status=queued&template=chain-2&trigger=api"])
def test_the_jobs_list_page_costs_the_same_with_2_or_28_jobs_and_counts_nothing(
    workspace, page_client, path, django_assert_max_num_queries
):
    template = chain_template(workspace, 2, "chain-2")
    add_jobs(template, 2)
    with django_assert_max_num_queries(1000) as few:
        get(page_client, path)
    add_jobs(template, 26)
    with django_assert_max_num_queries(len(few.captured_queries)) as many:
        response = get(page_client, path)
    assert count_queries(many) == []
    assert response.content.count(b'href="/jobs/') >= 25  # the page is full


@pytest.mark.parametrize("query", ["", "?status=queued&template=chain-2&trigger=api&limit=200"])
def test_the_api_job_list_costs_the_same_with_2_or_28_jobs_and_counts_nothing(
    workspace, client, api_headers, query, django_assert_max_num_queries
):
    template = chain_template(workspace, 2, "chain-2")
    add_jobs(template, 2)
    with django_assert_max_num_queries(1000) as few:
        get(client, f"/api/v1/jobs/{query}", **api_headers)
    add_jobs(template, 26)
    with django_assert_max_num_queries(len(few.captured_queries)) as many:
        response = get(client, f"/api/v1/jobs/{query}", **api_headers)
    assert count_queries(many) == []
    assert len(response.json()["results"]) >= 25


def test_the_api_next_page_costs_the_same_as_the_first(
    workspace, client, api_headers, django_assert_max_num_queries
):
    add_jobs(chain_template(workspace, 2, "chain-2"), 12)
    first = get(client, "/api/v1/jobs/?limit=5", **api_headers).json()
    with django_assert_max_num_queries(2) as captured:  # the key, one page of jobs
        page = get(
            client, f"/api/v1/jobs/?limit=5&cursor={first['next_cursor']}", **api_headers
        ).json()
    assert count_queries(captured) == []
    assert len(page["results"]) == 5


def test_the_dashboard_costs_the_same_with_2_or_28_jobs_and_counts_only_what_is_live_or_recent(
    workspace, page_client, django_assert_max_num_queries
):
    template = chain_template(workspace, 2, "chain-2")
    add_jobs(template, 2)
    with django_assert_max_num_queries(1000) as few:
        get(page_client, "/")
    add_jobs(template, 26)
    with django_assert_max_num_queries(len(few.captured_queries)) as many:
        get(page_client, "/")
    # The counts by status are of active jobs, or of jobs finished in the last 24 hours:
    # never a count over the whole history.
    for sql in count_queries(many):
        assert '"status" IN' in sql or '"finished_at" >=' in sql, sql


@pytest.mark.parametrize("path", ["/jobs/{id}/", "/api/v1/jobs/{id}/"])
def test_a_job_costs_the_same_with_2_or_12_steps(
    workspace, page_client, api_headers, path, django_assert_max_num_queries
):
    small = add_jobs(chain_template(workspace, 2, "chain-2"), 1)[0]
    big = add_jobs(chain_template(workspace, 12, "chain-12"), 1)[0]
    headers = api_headers if path.startswith("/api/") else {}
    with django_assert_max_num_queries(1000) as few:
        get(page_client, path.format(id=small.pk), **headers)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = get(page_client, path.format(id=big.pk), **headers)
    assert b"s11" in response.content


def test_job_events_and_logs_read_one_job_by_seq_without_counting(
    workspace, client, api_headers, django_assert_max_num_queries
):
    job = add_jobs(chain_template(workspace, 2, "chain-2"), 1)[0]
    get(
        client, f"/api/v1/jobs/{job.pk}/status/", **api_headers
    )  # the key's first use writes last_used_at
    for path in (f"/api/v1/jobs/{job.pk}/events/?after=1", f"/api/v1/jobs/{job.pk}/logs/?tail=2"):
        with django_assert_max_num_queries(3) as captured:  # key, job, events
            get(client, path, **api_headers)
        assert count_queries(captured) == []


def test_a_polled_job_costs_one_query_for_its_status_and_three_for_itself_with_2_or_12_steps(
    workspace, client, api_headers, django_assert_max_num_queries
):
    small = add_jobs(chain_template(workspace, 2, "chain-2"), 1)[0]
    big = add_jobs(chain_template(workspace, 12, "chain-12"), 1)[0]
    get(
        client, f"/api/v1/jobs/{small.pk}/status/", **api_headers
    )  # the key's first use writes last_used_at
    for job in (small, big):
        with django_assert_max_num_queries(1):  # the job with the key (jobs/api/lean_reads.py)
            get(client, f"/api/v1/jobs/{job.pk}/status/", **api_headers)
        with django_assert_max_num_queries(1):  # the job with the key, its steps and its artifacts
            response = get(client, f"/api/v1/jobs/{job.pk}/", **api_headers)
    assert len(response.json()["steps"]) == 12
