"""The job page: what it shows, the live tail read from the event stream, and the
actions each role may take."""

import re

import pytest
from django.core.files.base import ContentFile

from jobs.engine.states import JobStatus
from jobs.models import Artifact, Job
from jobs.services import create_job
from tests.ui.conftest import add_log, finish_job, running_job, submission_of

pytestmark = pytest.mark.django_db


def poller_of(html):
    """Whether the page's summary poller polls."""
    tag = re.search(r'<div id="job-poller"[^>]*>', html).group(0)
    return 'hx-trigger="every 1s"' in tag


def log_after(html):
    return int(re.search(r'id="log-view"[^>]* data-after="(\d+)"', html).group(1))


def fetch_log(client, job, **params):
    response = client.get(f"/jobs/{job.pk}/log.json", params)
    assert response.status_code == 200
    return response.json()


def job_badge(html):
    return re.search(r'class="live-status".*?badge status-(\w+)', html, re.S).group(1)


def summary_poll(client, job, shown, status):
    response = client.get(
        f"/jobs/{job.pk}/", {"live": 1, "shown": shown, "status": status}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    return response.content.decode()


def test_job_page_shows_status_steps_variables_and_masks_secrets(operator_client, two_steps):
    job = running_job(two_steps, variables={"who": "ada", "password": "pa55word-xyz"})
    add_log(job, "hello from first")
    html = operator_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "status-running" in html and "<progress" in html
    assert "hello from first" in html and 'id="log-view"' in html
    assert "<code>first</code>" in html and "<code>second</code>" in html
    assert "tl-chart" in html and 'class="graph"' in html  # the timeline and the run graph
    assert "ada" in html and "pa55word-xyz" not in html and "***" in html
    assert "data-tick-ms" in html  # the duration ticks while the job runs
    assert str(job.pk) in html  # the job id, to copy


def test_a_page_opened_mid_run_and_followed_to_the_end_shows_every_line_once_in_order(
    operator_client, two_steps
):
    job = running_job(two_steps)
    add_log(job, "line 1", "line 2")
    page = operator_client.get(f"/jobs/{job.pk}/").content.decode()
    assert poller_of(page)
    opened = fetch_log(operator_client, job, tail=2000)
    shown = [line[0] for line in opened["lines"]]
    after = opened["next_after"]
    add_log(job, "line 3")
    add_log(job, "line 4", "line 5", step_id="second", level="WARN")
    for _ in range(3):  # a poll with nothing new changes nothing
        live = fetch_log(operator_client, job, after=after)
        shown += [line[0] for line in live["lines"]]
        after = live["next_after"]
    finish_job(job)  # the job ends between two polls: the next one takes the rest
    live = fetch_log(operator_client, job, after=after)
    shown += [line[0] for line in live["lines"]]
    assert live["terminal"] and live["next_after"] == live["last_seq"] == job.last_event_seq
    expected = list(job.events.filter(kind="log").order_by("seq").values_list("seq", flat=True))
    assert shown == expected and len(expected) == 5
    summary = summary_poll(operator_client, job, live["next_after"], "running")
    assert not poller_of(summary)  # caught up and finished: the polling stops
    assert 'id="job-outcome" hx-swap-oob="true"' in summary  # result and artifacts arrive
    assert 'id="job-actions" class="actions" hx-swap-oob="true"' in summary  # Cancel → Rerun


def test_the_badge_stays_running_while_the_log_shown_is_older_than_the_last_event(
    operator_client, two_steps
):
    job = running_job(two_steps)
    add_log(job, "early line")
    shown = job.last_event_seq
    add_log(job, "late line")
    job = finish_job(job)
    behind = summary_poll(operator_client, job, shown, "running")
    assert job_badge(behind) == "running"
    assert poller_of(behind) and 'id="job-outcome"' not in behind
    caught_up = summary_poll(operator_client, job, job.last_event_seq, "running")
    assert job_badge(caught_up) == "succeeded" and not poller_of(caught_up)


def test_the_live_poll_swaps_status_steps_and_lineage_out_of_band(operator_client, two_steps):
    job = running_job(two_steps)
    live = summary_poll(operator_client, job, job.last_event_seq, "running")
    assert 'id="job-summary" class="card summary" aria-label="Status" hx-swap-oob="true"' in live
    assert 'id="job-steps"' in live and 'id="job-poller" hx-swap-oob="true"' in live
    assert (
        'id="job-lineage" class="card" aria-labelledby="lineage-title" hx-swap-oob="true"' in live
    )
    assert 'id="job-actions"' not in live  # unchanged status: the buttons stay put
    assert "<html" not in live


def test_a_finished_jobs_page_does_not_poll(operator_client, two_steps):
    job = finish_job(running_job(two_steps))
    html = operator_client.get(f"/jobs/{job.pk}/").content.decode()
    assert not poller_of(html) and 'hx-trigger="every 1s"' not in html
    assert "data-tick-ms" not in html


def test_log_filters_by_level_and_step_on_the_page_and_in_the_log_fetch(operator_client, two_steps):
    job = running_job(two_steps)
    add_log(job, "debug noise", level="DEBUG")
    add_log(job, "careful", level="WARN")
    add_log(job, "second says hi", step_id="second")
    html = operator_client.get(f"/jobs/{job.pk}/?level=WARN").content.decode()
    assert "careful" in html and "debug noise" not in html and "second says hi" not in html
    assert "&amp;level=WARN" in html  # the log viewer keeps the filter
    html = operator_client.get(f"/jobs/{job.pk}/?step=second").content.decode()
    assert "second says hi" in html and "careful" not in html
    add_log(job, "late warning", level="ERROR", step_id="first")
    add_log(job, "late info", level="INFO", step_id="first")
    live = fetch_log(operator_client, job, after=job.last_event_seq - 2, level="WARN")
    assert [line[5] for line in live["lines"]] == ["late warning"]
    assert live["next_after"] == job.last_event_seq  # filtered-out lines are not asked for again


def test_log_download_is_the_apis_text_format(operator_client, two_steps):
    job = running_job(two_steps)
    add_log(job, "one", "two")
    add_log(job, "three", level="WARN", step_id="second")
    response = operator_client.get(f"/jobs/{job.pk}/log.txt")
    assert response["Content-Type"].startswith("text/plain")
    assert "attachment" in response["Content-Disposition"]
    assert (
        b"".join(response.streaming_content).decode()
        == "INFO: [first] one\nINFO: [first] two\nWARN: [second] three\n"
    )


def test_artifacts_download_as_attachments_that_cannot_run_script(operator_client, two_steps):
    job = finish_job(running_job(two_steps))
    artifact = Artifact(
        job=job,
        step_id="first",
        name="step:first.page.html",
        size=5,
        sha256="0" * 64,
        content_type="text/html",
    )
    artifact.file.save("page.html", ContentFile(b"<script>alert(1)</script>"), save=True)
    html = operator_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "step:first.page.html" in html
    response = operator_client.get(f"/jobs/{job.pk}/artifacts/step:first.page.html")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert "sandbox" in response["Content-Security-Policy"]
    assert operator_client.get(f"/jobs/{job.pk}/artifacts/nope.txt").status_code == 404


def test_hostile_names_values_log_lines_and_results_render_inert(
    operator_client, workspace, two_steps
):
    payload = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    job = running_job(two_steps, name=f"job {payload}", variables={"who": payload})
    add_log(job, f"\x1b[31mred {payload}\x1b[0m [link](javascript:alert(3))")
    finish_job(job)
    Job.objects.filter(pk=job.pk).update(
        result_markdown=f"# Done\n\n{payload}\n\n[click](javascript:alert(4)) [ok](https://example.com)"
    )
    html = operator_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html and 'onerror="alert' not in html
    assert 'href="javascript:' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the name and variable, as text
    assert (
        '<span class="ansi-red">red &lt;script&gt;' in html
    )  # ANSI color as a class, text escaped
    assert "\x1b" not in html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">ok</a>' in html


# --- actions and roles ------------------------------------------------------------------


def buttons(html):
    return set(
        re.findall(
            r'<button type="submit"[^>]*>([^<]+)</button>',
            html.split('id="job-actions"')[1].split("</div>")[0],
        )
    )


def test_a_viewer_sees_no_action_buttons_and_the_server_refuses_them(viewer_client, two_steps):
    running = running_job(two_steps)
    done = finish_job(running_job(two_steps))
    for job in (running, done):
        html = viewer_client.get(f"/jobs/{job.pk}/").content.decode()
        assert buttons(html) == set() and "Rerun with changes" not in html
    assert viewer_client.post(f"/jobs/{running.pk}/cancel/").status_code == 403
    assert viewer_client.post(f"/jobs/{done.pk}/rerun/").status_code == 403
    assert viewer_client.get(f"/jobs/{done.pk}/rerun/edit/").status_code == 403
    running.refresh_from_db()
    assert running.cancel_requested_at is None and Job.objects.count() == 2


def test_an_operator_sees_the_buttons_that_apply(operator_client, two_steps, workspace):
    draft = create_job(workspace, template=two_steps, start=False)
    assert buttons(operator_client.get(f"/jobs/{draft.pk}/").content.decode()) == {
        "Start",
        "Cancel",
    }
    running = running_job(two_steps)
    assert buttons(operator_client.get(f"/jobs/{running.pk}/").content.decode()) == {"Cancel"}
    done = finish_job(running_job(two_steps))
    assert buttons(operator_client.get(f"/jobs/{done.pk}/").content.decode()) == {"Rerun"}
    failed = finish_job(running_job(two_steps), fail={"first"})
    html = operator_client.get(f"/jobs/{failed.pk}/").content.decode()
    assert buttons(html) == {"Rerun", "Rerun failed steps"} and "Rerun with changes" in html


def test_run_a_draft_and_cancel_a_queued_job(operator_client, two_steps, workspace):
    draft = create_job(workspace, template=two_steps, start=False)
    response = operator_client.post(f"/jobs/{draft.pk}/run/", follow=True)
    draft.refresh_from_db()
    assert draft.status == JobStatus.QUEUED and b"Job started." in response.content
    operator_client.post(f"/jobs/{draft.pk}/cancel/")
    draft.refresh_from_db()
    assert draft.status == JobStatus.CANCELED


def test_cancel_of_a_finished_job_is_refused_with_a_message(operator_client, two_steps):
    job = finish_job(running_job(two_steps))
    response = operator_client.post(f"/jobs/{job.pk}/cancel/", follow=True)
    assert b"Not canceled: job is already succeeded." in response.content
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED


def test_cancel_a_running_job_asks_its_worker_to_stop(operator_client, two_steps):
    job = running_job(two_steps)
    operator_client.post(f"/jobs/{job.pk}/cancel/")
    job.refresh_from_db()
    assert job.cancel_requested_at is not None
    html = operator_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Cancel requested" in html and "Force cancel" in buttons(html)


def test_rerun_and_rerun_failed_steps_make_one_new_job_each(operator_client, two_steps):
    failed = finish_job(running_job(two_steps), fail={"second"})
    page = operator_client.get(f"/jobs/{failed.pk}/")
    token = submission_of(page)
    first = operator_client.post(
        f"/jobs/{failed.pk}/rerun/", {"submission": token, "from": "failed"}
    )
    second = operator_client.post(
        f"/jobs/{failed.pk}/rerun/", {"submission": token, "from": "failed"}
    )
    rerun = Job.objects.get(original_job=failed)
    assert first["Location"] == second["Location"] == f"/jobs/{rerun.pk}/"
    assert rerun.steps.get(step_id="first").status == "succeeded"  # reused
    assert rerun.steps.get(step_id="second").status == "queued"  # runs again
    html = operator_client.get(f"/jobs/{rerun.pk}/").content.decode()
    assert f"/jobs/{failed.pk}/" in html and "attempt 2" in html  # lineage
    assert f"/jobs/{rerun.pk}/" in operator_client.get(f"/jobs/{failed.pk}/").content.decode()


def test_rerun_with_changes_prefills_the_form_and_keeps_the_secret(operator_client, two_steps):
    old = finish_job(running_job(two_steps, variables={"who": "ada", "password": "old-secret-1"}))
    page = operator_client.get(f"/jobs/{old.pk}/rerun/edit/")
    html = page.content.decode()
    assert 'name="var-who"' in html and 'value="ada"' in html
    assert "old-secret-1" not in html and "leave empty to keep the previous value" in html
    response = operator_client.post(
        f"/jobs/{old.pk}/rerun/edit/",
        {"submission": submission_of(page), "var-who": "grace", "var-password": ""},
    )
    new = Job.objects.get(original_job=old)
    assert response["Location"] == f"/jobs/{new.pk}/"
    assert new.unsealed_values()[0] == {"who": "grace", "password": "old-secret-1"}


def test_rerun_with_changes_shows_the_validators_errors(operator_client, every_type):
    old = finish_job(running_job(every_type, variables={"region": "eu"}))
    page = operator_client.get(f"/jobs/{old.pk}/rerun/edit/")
    response = operator_client.post(
        f"/jobs/{old.pk}/rerun/edit/",
        {"submission": submission_of(page), "var-region": "eu", "var-days": "999"},
    )
    assert response.status_code == 400 and b"must be at most 365" in response.content
    assert not Job.objects.filter(original_job=old).exists()


def test_a_long_log_shows_its_last_lines_and_points_to_the_download(
    operator_client, two_steps, monkeypatch
):
    from jobs.views import job_detail

    monkeypatch.setattr(job_detail, "PAGE_LOG_LINES", 5)
    job = running_job(two_steps)
    add_log(job, *[f"line {n}" for n in range(1, 6)])
    html = operator_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "line 1<" in html and "line 5<" in html and "Only the last" not in html
    add_log(job, "line 6", "line 7")
    html = operator_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "line 2<" not in html and "line 3<" in html and "line 7<" in html
    assert "Only the last 5 lines are shown" in html and f"/jobs/{job.pk}/log.txt" in html


def test_rerun_from_a_step_in_the_page_reruns_it_and_reuses_the_steps_before(
    operator_client, two_steps
):
    done = finish_job(running_job(two_steps))
    page = operator_client.get(f"/jobs/{done.pk}/")
    html = page.content.decode()
    assert 'name="from" value="second"' in html and "Rerun from here" in html
    response = operator_client.post(
        f"/jobs/{done.pk}/rerun/",
        {"submission": submission_of(page), "from": "second"},
        follow=True,
    )
    assert b"Rerun from step second started." in response.content
    rerun = Job.objects.get(original_job=done)
    assert rerun.steps.get(step_id="first").reused_from_id is not None
    assert rerun.steps.get(step_id="second").status == "queued"
    refused = operator_client.post(
        f"/jobs/{done.pk}/rerun/", {"submission": submission_of(page), "from": "nope"}, follow=True
    )
    assert b"this job has no step nope" in refused.content


def test_a_reused_step_has_no_bar_and_no_attempt_zero(operator_client, two_steps):
    from jobs.views.charts import step_timeline

    failed = finish_job(running_job(two_steps), fail={"second"})
    page = operator_client.get(f"/jobs/{failed.pk}/")
    operator_client.post(
        f"/jobs/{failed.pk}/rerun/", {"submission": submission_of(page), "from": "failed"}
    )
    rerun = finish_job(Job.objects.get(original_job=failed))
    steps = list(rerun.steps.all())
    rows = {row.step.step_id: row for row in step_timeline(rerun, steps).rows}
    assert not rows["first"].drawn and rows["second"].drawn  # first ran in the earlier job
    html = operator_client.get(f"/jobs/{rerun.pk}/").content.decode()
    table = html[
        html.index('<table class="steps">') : html.index(
            "</table>", html.index('<table class="steps">')
        )
    ]
    assert ">0<" not in table.replace(" ", "") and "(reused)" in table


def test_earlier_attempts_of_a_retried_step_keep_their_own_error(operator_client, workspace):
    from datetime import timedelta

    from django.utils import timezone

    from jobs.engine.faults import enqueue_due_retries
    from jobs.engine.steps import claim_step, finish_step
    from jobs.executors.base import Outcome
    from jobs.views.job_log import step_attempts
    from tests.jobs.helpers import make_template

    template = make_template(
        workspace,
        "slug: retried\nname: Retried\nsteps:\n  - id: ping\n    type: noop\n    retries: 2\n    retry_backoff: 0\n",
    )
    job = create_job(workspace, template=template, created_by="user:test")
    step = job.steps.get()
    claim_step(step.pk, step.attempt, "w")
    step.refresh_from_db()
    add_log(job, "first try", step_id="ping")
    finish_step(step.pk, step.attempt, Outcome.fail("connection refused", exit_code=1))
    step.refresh_from_db()
    assert step.status == "retrying"
    enqueue_due_retries(now=timezone.now() + timedelta(seconds=5))
    step.refresh_from_db()
    assert claim_step(step.pk, step.attempt, "w") and step.attempt == 2
    add_log(job, "second try", step_id="ping")
    step.refresh_from_db()
    attempts = step_attempts(job, [step])["ping"]
    assert [run["attempt"] for run in attempts] == [1, 2]
    assert attempts[0]["status"] == "failed" and attempts[0]["error"].startswith(
        "connection refused"
    )
    assert attempts[1]["status"] == "running"
    log = fetch_log(operator_client, job, tail=100)
    assert [(line[5], line[4]) for line in log["lines"]] == [("first try", 1), ("second try", 2)]
    html = operator_client.get(f"/jobs/{job.pk}/").content.decode()
    earlier = html[html.index('class="attempt-row"') :].split("</tr>")[0]
    assert "connection refused" in earlier and "1/3" in earlier


def test_a_canceled_job_shows_neither_cancel_requested_nor_cancel(operator_client, two_steps):
    from jobs.services import cancel_job

    job = running_job(two_steps)
    operator_client.post(f"/jobs/{job.pk}/cancel/")
    cancel_job(Job.objects.get(pk=job.pk), force=True)
    live = summary_poll(operator_client, Job.objects.get(pk=job.pk), 10**9, "running")
    assert job_badge(live) == "canceled"
    assert "Cancel requested" not in live and ">Cancel<" not in live and "Rerun" in live


def test_the_log_viewers_steps_are_the_apis_steps_with_their_attempts(operator_client, two_steps):
    """One representation of a job: log.json's steps are GET /api/v1/jobs/<id>/'s, less
    the outputs (fetched every second while following), plus what the viewer groups by."""
    job = finish_job(running_job(two_steps), fail={"second"})
    log = fetch_log(operator_client, job, tail=100)
    api = operator_client.get(f"/api/v1/jobs/{job.pk}/")
    assert api.status_code == 200
    api_steps = api.json()["steps"]
    assert [step["id"] for step in log["steps"]] == ["first", "second"]
    for shown, step in zip(log["steps"], api_steps, strict=True):
        attempts = shown.pop("attempts")
        assert shown.pop("max_attempts") == 1
        assert shown == {name: value for name, value in step.items() if name != "outputs"}
        assert [run["status"] for run in attempts] == [step["status"]]
    assert log["steps"][1]["status"] == "failed" and log["steps"][1]["error"]
