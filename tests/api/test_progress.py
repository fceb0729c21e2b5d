"""Progress counts the steps that succeeded (or were reused), so a job that failed or
was canceled never reads 100 %; the job page and the API say the same."""

from django.test import Client

from jobs.services import cancel_job, create_job
from tests.api.test_jobs_api import create


def test_a_failed_job_counts_only_its_succeeded_steps_and_the_page_agrees(
    operator_client, operator_user, flaky, run_tasks
):
    job = create(operator_client, template="flaky")
    run_tasks()
    full = operator_client.get(job["links"]["self"]).json()
    assert full["status"] == "failed"
    assert full["progress"] == {"percentage": 50.0, "completed_steps": 1, "total_steps": 2}
    assert operator_client.get(job["links"]["status"]).json()["progress"] == full["progress"]

    browser = Client()
    browser.force_login(operator_user)
    page = browser.get(job["links"]["ui"]).content.decode()
    assert 'value="50"' in page and "50 % · 1/2 steps" in page


def test_a_rerun_of_failed_steps_counts_the_reused_step_as_completed(
    operator_client, flaky, run_tasks
):
    job = create(operator_client, template="flaky")
    run_tasks()
    rerun = operator_client.post(
        job["links"]["rerun"], {"from": "failed", "variables": {"fail": False}}, format="json"
    ).json()
    assert rerun["progress"]["completed_steps"] == 1
    run_tasks()
    done = operator_client.get(rerun["links"]["self"]).json()
    assert done["status"] == "succeeded"
    assert done["progress"] == {"percentage": 100.0, "completed_steps": 2, "total_steps": 2}


def test_a_canceled_job_does_not_read_full(operator_client, workspace, slow, run_tasks):
    job = create_job(workspace, template=slow, start=True)
    cancel_job(job, force=True)
    run_tasks()
    answer = operator_client.get(f"/api/v1/jobs/{job.pk}/").json()
    assert answer["status"] == "canceled"
    assert answer["progress"]["percentage"] < 100 and answer["progress"]["completed_steps"] == 0
