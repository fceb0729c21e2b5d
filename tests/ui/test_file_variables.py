"""The start form's file input: one click uploads the file and starts the job; the job
page lists the file as an input artifact; CSRF still holds."""

import re

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from jobs.models import Job, Upload
from tests.jobs.helpers import make_template
from tests.ui.conftest import submission_of

WITH_FILE = """
slug: with-file
name: With a file
variables:
  table: {type: file, required: true, accept: [text/csv]}
  note: {type: string, default: hi}
steps:
  - id: count
    type: shell
    with:
      script: wc -l < "$JOBSITE_INPUTS/$VAR_TABLE"
"""


def test_the_start_form_takes_a_file_and_one_click_uploads_it_and_starts_the_job(
    operator_client, workspace, run_tasks
):
    make_template(workspace, WITH_FILE)
    page = operator_client.get("/templates/with-file/")
    html = page.content.decode()
    assert 'enctype="multipart/form-data"' in html
    assert re.search(r'<input type="file" name="var-table" accept="text/csv"', html)
    response = operator_client.post(
        "/templates/with-file/start/",
        {
            "submission": submission_of(page),
            "action": "start",
            "var-note": "x",
            "var-table": SimpleUploadedFile("rows.csv", b"a\nb\nc\n", "text/csv"),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    job = Job.objects.get()
    assert job.variables["table"] == "rows.csv" and job.inputs == {
        "rows.csv": f"upload:{Upload.objects.get().pk}"
    }
    run_tasks()
    detail = operator_client.get(response["Location"]).content.decode()
    assert "rows.csv" in detail and ">input<" in detail
    job.refresh_from_db()
    assert job.status == "succeeded"
    assert job.events.filter(kind="log", message="3").exists()  # wc -l read the uploaded file


def test_a_missing_or_refused_file_comes_back_beside_its_field(operator_client, workspace):
    make_template(workspace, WITH_FILE)
    page = operator_client.get("/templates/with-file/")
    missing = operator_client.post(
        "/templates/with-file/start/", {"submission": submission_of(page), "action": "start"}
    )
    assert missing.status_code == 400
    assert "this variable is required" in missing.content.decode()
    png = operator_client.post(
        "/templates/with-file/start/",
        {
            "submission": submission_of(page),
            "action": "start",
            "var-table": SimpleUploadedFile("x.png", b"\x89PNG", "image/png"),
        },
    )
    assert png.status_code == 400 and "accepts text/csv" in png.content.decode()
    assert not Job.objects.exists()


def test_the_file_form_still_checks_csrf(operator_user, workspace):
    make_template(workspace, WITH_FILE)
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator_user)
    page = client.get("/templates/with-file/")
    response = client.post(
        "/templates/with-file/start/",
        {
            "submission": submission_of(page),
            "action": "start",
            "var-table": SimpleUploadedFile("r.csv", b"a\n", "text/csv"),
        },
    )
    assert response.status_code == 403
    assert not Job.objects.exists()
