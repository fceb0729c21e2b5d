"""The jobs list: filters, keyset paging, and rows that update while their job runs."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Job, Trigger
from jobs.services import create_job
from jobs.views.job_list import PAGE_SIZE
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


def test_active_rows_poll_and_finished_rows_do_not(operator_client, two_steps):
    running = running_job(two_steps, name="busy")
    done = finish_job(running_job(two_steps, name="done"))
    html = operator_client.get("/jobs/").content.decode()
    assert f'hx-get="/jobs/{running.pk}/row/" hx-trigger="every 1s"' in html
    assert f'hx-get="/jobs/{done.pk}/row/"' not in html
    finish_job(running)
    row = operator_client.get(f"/jobs/{running.pk}/row/", HTTP_HX_REQUEST="true").content.decode()
    assert row.strip().startswith(f'<tr id="job-row-{running.pk}"')
    assert "status-succeeded" in row and "hx-trigger" not in row
