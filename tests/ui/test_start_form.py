"""The start form: generated from the variables, checked by the API's validator, one
job per submitted render."""

import re

import pytest

from jobs.engine.states import JobStatus
from jobs.models import Job, Trigger
from templates_app.definition import validate_values
from tests.ui.conftest import submission_of

pytestmark = pytest.mark.django_db


def form_html(client):
    return client.get("/templates/every-type/").content.decode()


def test_each_variable_type_gets_its_own_widget(operator_client, every_type):
    html = form_html(operator_client)
    assert re.search(r'<input type="text" name="var-title"[^>]*value="hello"', html)
    assert 'maxlength="40"' in html and "Must match [a-z ]+." in html
    assert re.search(r'<textarea name="var-notes"', html)
    assert re.search(r'<input type="number" name="var-days"[^>]*value="7"', html)
    assert 'min="1"' in html and 'max="365"' in html and 'step="1"' in html
    assert re.search(r'<input type="number" name="var-ratio"[^>]*step="any"', html)
    assert re.search(r'<input type="checkbox" name="var-verbose"[^>]*checked', html)
    assert re.search(r'<select name="var-region"', html)
    assert html.count('name="var-regions"') == 3  # one checkbox per choice
    assert re.search(r'<input type="date" name="var-day"', html)
    assert re.search(r'<input type="datetime-local" name="var-at"', html)
    assert re.search(
        r'<input type="password" name="var-token"[^>]*placeholder="leave empty to use the default"',
        html,
    )
    assert "hunter2-secret-default" not in html
    assert 'value="start"' in html and 'value="draft"' in html  # Start and Save draft


def test_bad_values_come_back_with_the_validators_own_messages(operator_client, every_type):
    token = submission_of(operator_client.get("/templates/every-type/"))
    data = {
        "submission": token,
        "var-title": "UPPER",
        "var-days": "0",
        "var-region": "mars",
        "var-ratio": "x",
        "action": "start",
    }
    response = operator_client.post("/templates/every-type/start/", data)
    assert response.status_code == 400
    html = response.content.decode()
    declared = every_type.current_version.definition["variables"]
    _, expected = validate_values(
        declared, {"title": "UPPER", "days": "0", "region": "mars", "ratio": "x"}
    )
    for name, messages in expected.items():
        shown = re.search(rf'id="id_var-{name}_error"[^>]*>([^<]*)<', html)
        assert shown and messages[0] in shown.group(1).replace("&#x27;", "'"), name
    assert 'value="UPPER"' in html  # what the user typed is kept
    assert not Job.objects.exists()


def test_fixing_the_errors_starts_the_job_with_coerced_values(
    operator_client, every_type, operator_user
):
    token = submission_of(operator_client.get("/templates/every-type/"))
    bad = {"submission": token, "var-days": "0", "var-region": "eu", "action": "start"}
    assert operator_client.post("/templates/every-type/start/", bad).status_code == 400
    good = {
        "submission": token, "job_name": "Nightly <b>", "var-title": "fine title", "var-days": "12",
        "var-ratio": "0.25", "var-region": "us", "var-regions": ["eu", "apac"], "var-day": "2025-01-31",
        "var-at": "2025-01-31T09:30", "action": "start",
    }  # fmt: skip
    response = operator_client.post("/templates/every-type/start/", good)
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    assert job.status == JobStatus.QUEUED and job.trigger == Trigger.UI
    assert job.created_by == f"user:{operator_user.username}" and job.name == "Nightly <b>"
    assert job.variables["days"] == 12 and job.variables["ratio"] == 0.25
    assert job.variables["regions"] == ["eu", "apac"] and job.variables["day"] == "2025-01-31"
    assert job.variables["verbose"] is False  # an unchecked box is false, not "the default"
    assert (
        job.unsealed_values()[0]["token"] == "hunter2-secret-default"
    )  # empty secret → its default


def test_save_draft_creates_a_draft(operator_client, every_type):
    token = submission_of(operator_client.get("/templates/every-type/"))
    operator_client.post(
        "/templates/every-type/start/", {"submission": token, "var-region": "eu", "action": "draft"}
    )
    assert Job.objects.get().status == JobStatus.DRAFT


def test_a_double_submit_of_one_render_creates_one_job(operator_client, every_type):
    token = submission_of(operator_client.get("/templates/every-type/"))
    data = {"submission": token, "var-region": "eu", "action": "start"}
    first = operator_client.post("/templates/every-type/start/", data)
    second = operator_client.post("/templates/every-type/start/", data)
    assert Job.objects.count() == 1
    assert first["Location"] == second["Location"] == f"/jobs/{Job.objects.get().pk}/"
    # A new render is a new job.
    again = submission_of(operator_client.get("/templates/every-type/"))
    operator_client.post("/templates/every-type/start/", {**data, "submission": again})
    assert Job.objects.count() == 2


def test_a_forged_or_foreign_token_creates_nothing(operator_client, admin_client, every_type):
    forged = {"submission": "not-a-token", "var-region": "eu", "action": "start"}
    assert operator_client.post("/templates/every-type/start/", forged).status_code == 400
    someone_elses = submission_of(admin_client.get("/templates/every-type/"))
    data = {"submission": someone_elses, "var-region": "eu", "action": "start"}
    assert operator_client.post("/templates/every-type/start/", data).status_code == 400
    assert not Job.objects.exists()


def test_a_viewer_gets_no_form_and_the_server_refuses_a_start(viewer_client, every_type):
    html = form_html(viewer_client)
    assert 'name="submission"' not in html and ">Start<" not in html
    response = viewer_client.post(
        "/templates/every-type/start/", {"var-region": "eu", "action": "start"}
    )
    assert response.status_code == 403
    assert not Job.objects.exists()
