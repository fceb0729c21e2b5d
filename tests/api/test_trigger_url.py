"""Trigger by URL (SPEC §6.4): plain URLs, plain-text answers, a per-template key."""

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from jobs.models import Job

HOOK = "/api/hooks/acme/greet"


@pytest.fixture
def trigger_key(admin_client, greet):
    return admin_client.post("/api/v1/templates/greet/trigger-key/").json()["key"]


def job_of(response):
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return Job.objects.get(pk=response.content.decode().strip())


def test_get_with_the_key_in_the_query_starts_a_job_with_query_variables(trigger_key):
    job = job_of(APIClient().get(f"{HOOK}/trigger/?key={trigger_key}&who=bob&times=3"))
    assert job.trigger == "trigger_url" and job.created_by == "trigger_url"
    assert job.status == "queued"
    assert job.unsealed_values()[0] == {"who": "bob", "times": 3, "token": "s3cret-value"}


def test_post_with_the_key_in_a_header_takes_json_or_form_variables_over_the_query(trigger_key):
    client = APIClient(HTTP_X_TRIGGER_KEY=trigger_key)
    from_json = job_of(
        client.post(f"{HOOK}/trigger/?who=query&times=2", {"who": "json"}, format="json")
    )
    assert from_json.variables["who"] == "json" and from_json.variables["times"] == 2
    from_form = job_of(
        client.post(
            f"{HOOK}/trigger/", "who=form&times=4", content_type="application/x-www-form-urlencoded"
        )
    )
    assert from_form.variables["who"] == "form" and from_form.variables["times"] == 4
    defaults = job_of(client.post(f"{HOOK}/trigger/"))
    assert defaults.variables["who"] == "world"


def test_a_bad_or_unknown_variable_is_400_naming_it(trigger_key):
    response = APIClient().get(f"{HOOK}/trigger/?key={trigger_key}&times=lots&colour=red")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert "variables.times: expected an integer, got 'lots'" in text
    assert "variables.colour: unknown variable" in text
    assert Job.objects.count() == 0


def test_a_wrong_or_missing_key_is_403(trigger_key):
    assert APIClient().get(f"{HOOK}/trigger/?key=jtk_wrong").status_code == 403
    assert APIClient().post(f"{HOOK}/trigger/").status_code == 403
    assert (
        APIClient(HTTP_X_TRIGGER_KEY=trigger_key + "x").post(f"{HOOK}/trigger/").status_code == 403
    )
    assert Job.objects.count() == 0


def test_a_template_whose_key_was_never_issued_refuses_every_key(greet):
    assert APIClient().get(f"{HOOK}/trigger/?key=").status_code == 403


def test_an_unknown_template_or_workspace_or_one_without_trigger_url_is_404(
    trigger_key, flaky, admin_client
):
    client = APIClient(HTTP_X_TRIGGER_KEY=trigger_key)
    assert client.post("/api/hooks/acme/nope/trigger/").status_code == 404
    assert client.post("/api/hooks/nowhere/greet/trigger/").status_code == 404
    assert client.post("/api/hooks/acme/flaky/trigger/").status_code == 404
    admin_client.delete("/api/v1/templates/greet/")
    assert client.post(f"{HOOK}/trigger/").status_code == 404


def test_status_is_one_word_and_logs_are_plain_lines(trigger_key, run_tasks):
    client = APIClient(HTTP_X_TRIGGER_KEY=trigger_key)
    job_id = client.post(f"{HOOK}/trigger/", {"who": "ann"}, format="json").content.decode().strip()
    assert client.get(f"{HOOK}/jobs/{job_id}/status/").content == b"Pending\n"
    run_tasks()
    assert client.get(f"{HOOK}/jobs/{job_id}/status/").content == b"Succeeded\n"
    logs = client.get(f"{HOOK}/jobs/{job_id}/logs/?key={trigger_key}")
    assert logs["Content-Type"].startswith("text/plain")
    assert logs.content.decode() == "INFO: hello ann (token ***)\nWARN: just a warning\n"
    assert APIClient().get(f"{HOOK}/jobs/{job_id}/status/?key=wrong").status_code == 403


def test_status_sees_only_jobs_of_that_template(trigger_key, workspace, flaky):
    from jobs.services import create_job

    other = create_job(workspace, template=flaky, start=False)
    response = APIClient(HTTP_X_TRIGGER_KEY=trigger_key).get(f"{HOOK}/jobs/{other.pk}/status/")
    assert response.status_code == 404


def test_a_trigger_with_an_idempotency_key_starts_one_job(trigger_key):
    client = APIClient(HTTP_X_TRIGGER_KEY=trigger_key, HTTP_IDEMPOTENCY_KEY="cron-2024-01-31")
    first = client.post(f"{HOOK}/trigger/?who=a")
    second = client.post(f"{HOOK}/trigger/?who=a")
    assert first.content == second.content and second["Idempotent-Replayed"] == "true"
    assert Job.objects.count() == 1


@override_settings(JOBSITE_API_BAD_KEY_LIMIT="3/hour")
def test_guessing_trigger_keys_is_slowed_down(trigger_key):
    answers = [APIClient().get(f"{HOOK}/trigger/?key=jtk_guess{i}").status_code for i in range(5)]
    assert answers == [403, 403, 403, 429, 429]
    # The right key from the same address still starts a job.
    assert (
        APIClient(HTTP_X_TRIGGER_KEY=trigger_key).post(f"{HOOK}/trigger/?who=a").status_code == 200
    )
