"""uploads/ and `file` variables (SPEC §6.2): streamed, hashed, capped, expiring, scoped
to the workspace; a job's steps find the file under $JOBSITE_INPUTS."""

import hashlib
from datetime import timedelta
from uuid import UUID

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from jobs.models import Upload
from jobs.uploads import expire_uploads
from tests.api.test_jobs_api import JOBS, create
from tests.jobs.helpers import make_template

UPLOADS = "/api/v1/uploads/"

COUNT_LINES = """
slug: count-lines
name: Count lines
variables:
  table: {type: file, required: true, accept: [text/csv, text/plain]}
steps:
  - id: count
    type: shell
    with:
      script: |
        echo "lines=$(wc -l < "$JOBSITE_INPUTS/$VAR_TABLE")" >> "$JOBSITE_OUTPUT"
        echo "name=$VAR_TABLE" >> "$JOBSITE_OUTPUT"
outputs:
  lines: "{{ steps.count.outputs.lines }}"
"""


def upload(client, content=b"a,b\n1,2\n3,4\n", name="table.csv", content_type="text/csv"):
    response = client.post(
        UPLOADS, {"file": SimpleUploadedFile(name, content, content_type)}, format="multipart"
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_a_multipart_upload_is_stored_with_its_sha256_and_expiry(operator_client):
    body = b"a,b\n1,2\n"
    answer = upload(operator_client, body, name="../../etc/My Table.csv")
    assert answer["name"] == "My_Table.csv" and answer["size"] == len(body)
    assert (
        answer["sha256"] == hashlib.sha256(body).hexdigest()
        and answer["content_type"] == "text/csv"
    )
    stored = Upload.objects.get(pk=answer["id"])
    with default_storage.open(stored.file.name, "rb") as handle:
        assert handle.read() == body
    assert stored.expires_at - stored.created_at == timedelta(hours=24)


def test_a_raw_body_upload_needs_a_name_and_a_real_content_type(operator_client):
    raw = operator_client.post(
        f"{UPLOADS}?name=notes.txt", data=b"hello\n", content_type="text/plain"
    )
    assert raw.status_code == 201 and raw.json()["name"] == "notes.txt" and raw.json()["size"] == 6
    nameless = operator_client.post(UPLOADS, data=b"hello\n", content_type="text/plain")
    assert nameless.status_code == 400 and list(nameless.json()["errors"]) == ["name"]
    form = operator_client.post(
        UPLOADS, data="a=1", content_type="application/x-www-form-urlencoded"
    )
    assert form.status_code == 415 and list(form.json()["errors"]) == ["file"]
    empty = operator_client.post(f"{UPLOADS}?name=x", data=b"", content_type="text/plain")
    assert empty.status_code == 400 and list(empty.json()["errors"]) == ["file"]
    no_file = operator_client.post(UPLOADS, {"other": "x"}, format="multipart")
    assert no_file.status_code == 400 and list(no_file.json()["errors"]) == ["file"]


def test_an_upload_past_the_cap_is_413_naming_the_file(operator_client, settings):
    settings.JOBSITE_UPLOAD_MAX_MB = 1
    too_big = b"x" * (1024 * 1024 + 1)
    response = operator_client.post(
        UPLOADS, {"file": SimpleUploadedFile("big.bin", too_big)}, format="multipart"
    )
    assert response.status_code == 413 and list(response.json()["errors"]) == ["file"]
    raw = operator_client.post(
        f"{UPLOADS}?name=big.bin", data=too_big, content_type="application/octet-stream"
    )
    assert raw.status_code == 413
    settings.JOBSITE_UPLOAD_MAX_MB, settings.JOBSITE_UPLOAD_WORKSPACE_MAX_MB = 10, 1
    upload(operator_client, b"y" * (700 * 1024), name="first.bin")
    over = operator_client.post(
        UPLOADS, {"file": SimpleUploadedFile("second.bin", b"z" * (400 * 1024))}, format="multipart"
    )
    assert over.status_code == 413
    assert Upload.objects.count() == 1


def test_a_viewer_cannot_upload(viewer_client):
    response = viewer_client.post(
        UPLOADS, {"file": SimpleUploadedFile("a.txt", b"a")}, format="multipart"
    )
    assert response.status_code == 403


def test_a_file_variable_takes_an_upload_id_and_the_step_reads_the_file(
    operator_client, workspace, run_tasks
):
    make_template(workspace, COUNT_LINES)
    sent = upload(operator_client)
    job = create(operator_client, template="count-lines", variables={"table": sent["id"]})
    assert job["variables"]["table"] == "table.csv"
    assert job["inputs"] == {"table.csv": f"upload:{sent['id']}"}
    assert [(a["name"], a["step"], a["sha256"]) for a in job["artifacts"]] == [
        ("table.csv", None, sent["sha256"])
    ]
    run_tasks()
    done = operator_client.get(job["links"]["self"]).json()
    assert done["status"] == "succeeded", done
    assert done["outputs"] == {"lines": "3"}
    # Usable many times while it lasts.
    again = create(operator_client, template="count-lines", variables={"table": sent["id"]})
    assert again["inputs"] == job["inputs"]


def test_bad_upload_ids_are_400_naming_the_variable(operator_client, workspace, outsider_client):
    make_template(workspace, COUNT_LINES)

    def refused(value):
        response = operator_client.post(
            JOBS, {"template": "count-lines", "variables": {"table": value}}, format="json"
        )
        assert response.status_code == 400, response.content
        return response.json()["errors"]["variables.table"][0]

    assert "upload id" in refused("not-an-id")
    assert "no such upload" in refused("3f1c1d5e-1111-4c4c-8888-000000000000")
    theirs = outsider_client.post(
        UPLOADS, {"file": SimpleUploadedFile("t.csv", b"a\n", "text/csv")}, format="multipart"
    )
    assert "no such upload" in refused(theirs.json()["id"])
    expired = upload(operator_client)
    Upload.objects.filter(pk=expired["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert "no such upload" in refused(expired["id"])
    image = upload(operator_client, b"\x89PNG", name="x.png", content_type="image/png")
    assert "accepts text/csv, text/plain" in refused(image["id"])


def test_expired_uploads_are_deleted_but_a_jobs_input_keeps_its_file(
    operator_client, workspace, run_tasks
):
    make_template(workspace, COUNT_LINES)
    used, unused = upload(operator_client), upload(operator_client, name="other.csv")
    stored = dict(Upload.objects.values_list("id", "file"))
    job = create(operator_client, template="count-lines", variables={"table": used["id"]})
    Upload.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert expire_uploads() == 2
    assert not Upload.objects.exists()
    assert default_storage.exists(stored[UUID(used["id"])])
    assert not default_storage.exists(stored[UUID(unused["id"])])
    run_tasks()
    assert operator_client.get(job["links"]["self"]).json()["outputs"] == {"lines": "3"}


def test_a_rerun_keeps_the_uploaded_input(operator_client, workspace, run_tasks):
    make_template(workspace, COUNT_LINES)
    job = create(
        operator_client, template="count-lines", variables={"table": upload(operator_client)["id"]}
    )
    run_tasks()
    rerun = operator_client.post(job["links"]["rerun"], format="json").json()
    assert [a["name"] for a in rerun["artifacts"]] == ["table.csv"]
    run_tasks()
    assert operator_client.get(rerun["links"]["self"]).json()["outputs"] == {"lines": "3"}


def test_uploads_count_in_the_workspace_storage_quota(operator_client, workspace):
    from jobs.engine.artifacts import workspace_stored_bytes

    workspace.storage_quota_mb = 1
    workspace.save(update_fields=["storage_quota_mb"])
    upload(
        operator_client,
        b"q" * (600 * 1024),
        name="first.bin",
        content_type="application/octet-stream",
    )
    assert workspace_stored_bytes(workspace.pk) == 600 * 1024
    over = operator_client.post(
        UPLOADS, {"file": SimpleUploadedFile("second.bin", b"r" * (500 * 1024))}, format="multipart"
    )
    assert over.status_code == 413 and list(over.json()["errors"]) == ["file"]
