"""The jobs list: filters, keyset paging, and rows that update while their job runs."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Job, Trigger
from jobs.services import create_job
from jobs.views.job_list import PAGE_SIZE, encode_cursor
from tests.ui.conftest import finish_job, running_job

pytestmark = pytest.mark.django_db


def names_in(html):
    return re.findall(r'<td class="job-name"><a href="/jobs/[^"]+/">([^<]+)</a>', html)


def test_empty_list_says_how_to_start_a_job(operator_client):
    assert b"No jobs yet" in operator_client.get("/jobs/").content


def test_filters_by_status_template_trigger_and_name(
    operator_client, workspace, two_steps, every_type
):
    create_job(workspace, template=two_steps, name="alpha draft", start=False)
    create_job(workspace, template=two_steps, name="beta queued")
    create_job(
        workspace,
        template=every_type,
        name="gamma",
        variables={"region": "eu"},
        start=False,
        trigger=Trigger.UI,
    )
    assert names_in(operator_client.get("/jobs/?status=draft").content.decode()) == [
        "gamma",
        "alpha draft",
    ]
    assert names_in(operator_client.get("/jobs/?template=every-type").content.decode()) == ["gamma"]
    assert names_in(operator_client.get("/jobs/?trigger=ui").content.decode()) == ["gamma"]
    assert names_in(operator_client.get("/jobs/?q=BETA").content.decode()) == ["beta queued"]
    nothing = operator_client.get("/jobs/?q=zzz").content.decode()
    assert "No job matches these filters" in nothing


def test_keyset_pages_cover_every_job_once_in_both_directions(
    operator_client, workspace, two_steps
):
    start = timezone.now() - timedelta(hours=1)
    total = PAGE_SIZE * 2 + 3
    for index in range(total):
        job = create_job(workspace, template=two_steps, name=f"job {index:03d}", start=False)
        # Two jobs share each timestamp, so the id must break the tie.
        Job.objects.filter(pk=job.pk).update(created_at=start + timedelta(seconds=index // 2))
    seen, pages, url = [], [], "/jobs/"
    while url:
        html = operator_client.get(url).content.decode()
        pages.append(html)
        seen += names_in(html)
        older = re.search(r'href="(\?older=[^"]+)">Older', html)
        url = "/jobs/" + older.group(1).replace("&amp;", "&") if older else None
    assert len(seen) == total and len(set(seen)) == total
    assert [len(names_in(page)) for page in pages] == [PAGE_SIZE, PAGE_SIZE, 3]
    newer = re.search(r'href="(\?newer=[^"]+)">← Newer', pages[-1]).group(1).replace("&amp;", "&")
    assert names_in(operator_client.get("/jobs/" + newer).content.decode()) == names_in(pages[1])
    assert "Newer" not in pages[0]


def test_paging_keeps_the_filters(operator_client, workspace, two_steps):
    for index in range(PAGE_SIZE + 1):
        create_job(workspace, template=two_steps, name=f"keep {index}", start=False)
    html = operator_client.get("/jobs/?status=draft").content.decode()
    assert re.search(r'href="\?older=[^"]+&amp;status=draft"', html)


def poller_of(html, every="1s"):
    """The hx-get URL of the list's one poller, or None when it does not poll (that
    often: every 1s while rows are active, every 3s when it only watches for new jobs)."""
    match = re.search(
        rf'<div id="job-list-poller"[^>]*?hx-get="([^"]+)" hx-trigger="every {every}"', html
    )
    return match.group(1).replace("&amp;", "&") if match else None


def polled_ids(url):
    return set(re.findall(r"id=([0-9a-f-]{36})", url))


def test_the_list_polls_once_for_all_its_active_rows(operator_client, workspace, two_steps):
    active = [running_job(two_steps, name=f"busy {n}") for n in range(6)]
    active.append(create_job(workspace, template=two_steps, name="waiting"))  # queued
    done = [finish_job(running_job(two_steps, name=f"done {n}")) for n in range(2)]
    html = operator_client.get("/jobs/").content.decode()
    assert html.count("hx-trigger") == 1 and "hx-get" in html
    url = poller_of(html)
    assert url.startswith("/jobs/rows/?")
    assert polled_ids(url) == {str(job.pk) for job in active}
    assert not polled_ids(url) & {str(job.pk) for job in done}


def test_one_poll_answers_every_active_row_out_of_band_with_a_fixed_number_of_queries(
    operator_client, two_steps
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def poll(url):
        with CaptureQueriesContext(connection) as queries:
            response = operator_client.get(url, HTTP_HX_REQUEST="true")
        return response.content.decode(), len(queries)

    few = [running_job(two_steps, name=f"few {n}") for n in range(2)]
    _, queries_for_few = poll(poller_of(operator_client.get("/jobs/").content.decode()))
    many = few + [running_job(two_steps, name=f"many {n}") for n in range(10)]
    url = poller_of(operator_client.get("/jobs/").content.decode())
    html, queries_for_many = poll(url)
    assert queries_for_many == queries_for_few
    # Rows can only travel inside a <template>: a bare <tr> would be dropped by the parser.
    assert html.count("<template>") == 1
    for job in many:
        assert f'<tr id="job-row-{job.pk}" hx-swap-oob="true">' in html
    assert polled_ids(poller_of(html)) == {str(job.pk) for job in many}


def test_a_finished_row_is_polled_once_more_and_the_polling_stops_with_the_last(
    operator_client, two_steps
):
    first, second = running_job(two_steps, name="first"), running_job(two_steps, name="second")
    url = poller_of(operator_client.get("/jobs/").content.decode())
    finish_job(first)
    html = operator_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    finished_row = html[html.index(f'<tr id="job-row-{first.pk}"') :]
    assert "status-succeeded" in finished_row.split("</tr>")[0]
    url = poller_of(html)
    assert polled_ids(url) == {str(second.pk)}
    finish_job(second, fail=["second"])
    html = operator_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "status-failed" in html and f'<tr id="job-row-{second.pk}"' in html
    # No active row left: the first page only watches for new jobs, every 3 s.
    assert poller_of(html) is None and polled_ids(poller_of(html, "3s")) == set()
    assert 'id="job-list-poller" hx-swap-oob="true"' in html


def test_a_page_without_active_rows_polls_only_for_new_jobs_and_an_older_page_not_at_all(
    operator_client, workspace, two_steps
):
    create_job(workspace, template=two_steps, name="a draft", start=False)
    finish_job(running_job(two_steps, name="done"))
    html = operator_client.get("/jobs/").content.decode()
    assert poller_of(html) is None and "since=" in poller_of(html, "3s")
    older = operator_client.get(
        f"/jobs/?older={encode_cursor(Job.objects.order_by('created_at').last())}"
    )
    assert "hx-trigger" not in older.content.decode()


def test_new_jobs_appear_on_top_of_the_first_page_without_a_reload(
    operator_client, workspace, two_steps
):
    finish_job(running_job(two_steps, name="old one"))
    url = poller_of(operator_client.get("/jobs/").content.decode(), "3s")
    fresh = running_job(two_steps, name="fresh one")
    create_job(workspace, template=two_steps, name="a new draft", start=False)
    html = operator_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert '<tbody hx-swap-oob="afterbegin:#job-rows">' in html
    new_rows = html.split('afterbegin:#job-rows">')[1]
    assert new_rows.index("a new draft") < new_rows.index("fresh one")  # newest first
    assert "old one" not in html
    assert polled_ids(poller_of(html)) == {str(fresh.pk)}  # the new running row is followed
    again = operator_client.get(poller_of(html), HTTP_HX_REQUEST="true").content.decode()
    assert "afterbegin" not in again  # each new job arrives once


def test_new_jobs_that_do_not_pass_the_filters_do_not_appear(operator_client, workspace, two_steps):
    finish_job(running_job(two_steps, name="old one"))
    url = poller_of(operator_client.get("/jobs/?status=draft").content.decode(), "3s")
    assert "status=draft" in url
    running_job(two_steps, name="not a draft")
    html = operator_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "not a draft" not in html


def test_an_empty_list_reloads_once_when_its_first_job_arrives(operator_client, two_steps):
    url = poller_of(operator_client.get("/jobs/").content.decode(), "3s")
    assert operator_client.get(url, HTTP_HX_REQUEST="true").status_code == 200
    running_job(two_steps, name="the first")
    response = operator_client.get(url, HTTP_HX_REQUEST="true")
    assert response["HX-Refresh"] == "true"


def test_the_poll_never_answers_rows_of_another_workspace(
    operator_client, two_steps, other_workspace
):
    from tests.jobs.helpers import make_template
    from tests.ui.conftest import TWO_STEPS

    theirs = running_job(make_template(other_workspace, TWO_STEPS), name="their secret job")
    mine = running_job(two_steps, name="mine")
    html = operator_client.get(
        f"/jobs/rows/?id={theirs.pk}&id={mine.pk}&id=not-a-uuid", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "their secret job" not in html and str(theirs.pk) not in html
    assert f'<tr id="job-row-{mine.pk}"' in html
