"""Nothing crosses workspaces, and roles are enforced on every endpoint (SPEC §6.1).

The outsider holds an admin key of another workspace: for every object endpoint and
method, our objects must answer exactly like ids that never existed."""

import uuid

import pytest
from django.core.files.base import ContentFile

from jobs.models import Artifact
from jobs.services import create_job
from jobsite.models import ApiKey, Role
from tests.api.conftest import client_for

NOWHERE = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def ours(workspace, greet):
    """A job (with an artifact) and a key of `workspace`, for the outsider to look for."""
    job = create_job(workspace, template=greet, start=False)
    artifact = Artifact(
        job=job,
        step_id="hello",
        name="step:hello.hello.txt",
        size=5,
        sha256="0" * 64,
        content_type="text/plain",
    )
    artifact.file.save("hello.txt", ContentFile(b"hello"), save=True)
    key, _ = ApiKey.issue(workspace, "ours", role=Role.ADMIN)
    return {"job": job, "template": greet, "key": key}


def object_requests(job_id, template_ref, key_id):
    jobs = f"/api/v1/jobs/{job_id}"
    templates = f"/api/v1/templates/{template_ref}"
    return [
        ("get", f"{jobs}/", None),
        ("get", f"{jobs}/status/", None),
        ("get", f"{jobs}/events/", None),
        ("get", f"{jobs}/logs/", None),
        ("get", f"{jobs}/result/", None),
        ("get", f"{jobs}/artifacts/", None),
        ("get", f"{jobs}/artifacts/step:hello.hello.txt", None),
        ("post", f"{jobs}/run/", None),
        ("post", f"{jobs}/cancel/", {"force": True}),
        ("post", f"{jobs}/rerun/", {}),
        ("get", f"{templates}/", None),
        ("get", f"{templates}/schema/", None),
        ("post", f"{templates}/validate/", {"variables": {}}),
        (
            "put",
            f"{templates}/",
            {"source": "slug: greet\nname: Stolen\nsteps: [{id: a, type: noop}]"},
        ),
        ("delete", f"{templates}/", None),
        ("post", f"{templates}/trigger-key/", None),
        ("get", f"/api/v1/keys/{key_id}/", None),
        ("delete", f"/api/v1/keys/{key_id}/", None),
    ]


def send(client, method, url, body):
    return (
        getattr(client, method)(url, body, format="json")
        if body is not None
        else getattr(client, method)(url)
    )


@pytest.mark.parametrize("by", ["id", "slug"])
def test_every_object_endpoint_answers_another_workspaces_objects_like_nonexistent_ids(
    outsider_client, ours, by
):
    template_ref = str(ours["template"].pk) if by == "id" else "greet"
    missing_ref = str(uuid.uuid4()) if by == "id" else "no-such-template"
    theirs = object_requests(ours["job"].pk, template_ref, ours["key"].pk)
    missing = object_requests(NOWHERE, missing_ref, 999999)
    for (method, url, body), (_, missing_url, _) in zip(theirs, missing, strict=True):
        foreign = send(outsider_client, method, url, body)
        absent = send(outsider_client, method, missing_url, body)
        assert foreign.status_code == 404, (method, url, foreign.content)
        assert foreign.content == absent.content, (method, url)
        assert foreign["Content-Type"] == absent["Content-Type"]
    # And nothing changed on our side.
    ours["job"].refresh_from_db()
    ours["template"].refresh_from_db()
    ours["key"].refresh_from_db()
    assert (
        ours["job"].status == "draft"
        and ours["template"].archived_at is None
        and ours["key"].is_active
    )
    assert ours["template"].name == "Greet" and not ours["template"].trigger_key_hash


def test_lists_hold_no_row_of_another_workspace(outsider_client, ours):
    assert outsider_client.get("/api/v1/jobs/").json()["results"] == []
    assert outsider_client.get("/api/v1/jobs/?template=greet").json()["results"] == []
    assert outsider_client.get("/api/v1/templates/?archived=true").json()["results"] == []
    keys = outsider_client.get("/api/v1/keys/").json()["results"]
    assert [key["name"] for key in keys] == ["admin-key"]


def test_another_workspaces_template_or_artifact_cannot_be_used_to_create_a_job(
    outsider_client, ours
):
    by_id = outsider_client.post(
        "/api/v1/jobs/", {"template": str(ours["template"].pk)}, format="json"
    )
    nowhere = outsider_client.post("/api/v1/jobs/", {"template": NOWHERE}, format="json")
    assert by_id.status_code == 400 and by_id.content == nowhere.content
    stolen = outsider_client.post(
        "/api/v1/jobs/",
        {
            "recipe": {"steps": [{"id": "a", "type": "noop"}]},
            "inputs": {"f.txt": f"{ours['job'].pk}/step:hello.hello.txt"},
        },
        format="json",
    )
    invented = outsider_client.post(
        "/api/v1/jobs/",
        {
            "recipe": {"steps": [{"id": "a", "type": "noop"}]},
            "inputs": {"f.txt": f"{NOWHERE}/step:hello.hello.txt"},
        },
        format="json",
    )
    assert stolen.status_code == 400 and stolen.content == invented.content


def test_a_key_naming_another_workspace_in_a_header_is_refused_everywhere(
    api_key, other_workspace, ours
):
    client = client_for(api_key(Role.ADMIN), HTTP_X_WORKSPACE_SLUG=other_workspace.slug)
    for url in (
        "/api/v1/jobs/",
        "/api/v1/templates/",
        "/api/v1/keys/",
        f"/api/v1/jobs/{ours['job'].pk}/",
    ):
        assert client.get(url).status_code == 403


# --- roles -----------------------------------------------------------------------------------


def test_a_viewer_reads_but_cannot_start_cancel_or_rerun(viewer_client, ours):
    job = ours["job"]
    assert viewer_client.get(f"/api/v1/jobs/{job.pk}/").status_code == 200
    assert (
        viewer_client.post("/api/v1/templates/greet/validate/", {}, format="json").status_code
        == 200
    )
    refused = [
        viewer_client.post("/api/v1/jobs/", {"template": "greet"}, format="json"),
        viewer_client.post(f"/api/v1/jobs/{job.pk}/run/"),
        viewer_client.post(f"/api/v1/jobs/{job.pk}/cancel/"),
        viewer_client.post(f"/api/v1/jobs/{job.pk}/rerun/", {}, format="json"),
    ]
    assert [response.status_code for response in refused] == [403] * 4
    assert refused[0].json() == {
        "detail": "This needs the operator role; yours is viewer.",
        "code": "permission_denied",
    }
    job.refresh_from_db()
    assert job.status == "draft"


def test_an_operator_runs_jobs_but_cannot_edit_templates_or_keys(operator_client, ours):
    assert operator_client.post(f"/api/v1/jobs/{ours['job'].pk}/run/").status_code == 202
    source = "slug: new-one\nname: New\nsteps: [{id: a, type: noop}]"
    refused = [
        operator_client.post("/api/v1/templates/", {"source": source}, format="json"),
        operator_client.put("/api/v1/templates/greet/", {"source": source}, format="json"),
        operator_client.delete("/api/v1/templates/greet/"),
        operator_client.post("/api/v1/templates/greet/trigger-key/"),
        operator_client.get("/api/v1/keys/"),
        operator_client.post("/api/v1/keys/", {"name": "mine", "role": "admin"}, format="json"),
        operator_client.get(f"/api/v1/keys/{ours['key'].pk}/"),
        operator_client.delete(f"/api/v1/keys/{ours['key'].pk}/"),
        operator_client.post(
            "/api/v1/jobs/", {"recipe": {"steps": [{"id": "a", "type": "noop"}]}}, format="json"
        ),
    ]
    assert [response.status_code for response in refused] == [403] * len(refused)
    ours["key"].refresh_from_db()
    assert ours["key"].is_active
