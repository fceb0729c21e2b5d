"""`GET jobs/{id}/status/` and `GET jobs/{id}/` with an API key are answered by
jobs/api/lean_reads.py in one statement (issue 7, issue 16): the same representation
(jobs/representation.py), key check and tenant resolution as the DRF views, so the same
bytes and headers, and every refusal still the DRF views' own."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.utils import timezone
from rest_framework import serializers
from rest_framework.test import APIClient

from jobs.api import lean_reads
from jobs.automation.webhooks import job_payload
from jobs.models import Artifact, Job, StepRun
from jobs.representation import format_datetime
from jobs.services import create_job
from jobsite.models import ApiKey, Membership, Role
from tests.api.conftest import client_for
from tests.jobs.helpers import make_template

JOBS = "/api/v1/jobs/"
# These two count down or move with the clock from one request to the next.
VOLATILE_HEADERS = {"RateLimit-Remaining", "RateLimit-Reset"}


def through_drf(monkeypatch):
    """Answer through the DRF views only, as before the lean path existed."""
    monkeypatch.setattr(lean_reads, "answer", lambda *args: None)


def lean_and_drf(client, url, monkeypatch, **headers):
    """The answer of the lean path (which must have answered by itself) and of DRF."""
    answered = []
    lean_answer = lean_reads.answer
    with monkeypatch.context() as patched:
        patched.setattr(
            lean_reads, "answer", lambda *args: answered.append(lean_answer(*args)) or answered[-1]
        )
        lean = client.get(url, **headers)
    assert answered and answered[0] is not None, "the lean path left this request to DRF"
    with monkeypatch.context() as patched:
        through_drf(patched)
        drf = client.get(url, **headers)
    return lean, drf


def assert_same_answer(lean, drf):
    assert lean.status_code == drf.status_code
    assert lean.content == drf.content
    assert {k: v for k, v in lean.headers.items() if k not in VOLATILE_HEADERS} == {
        k: v for k, v in drf.headers.items() if k not in VOLATILE_HEADERS
    }


def create(client, **payload):
    response = client.post(JOBS, payload, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_the_lean_answers_are_the_drf_answers_byte_for_byte(
    operator_client, workspace, greet, flaky, run_tasks, monkeypatch
):
    succeeded = create(
        operator_client, template="greet", variables={"who": "ann"}
    )  # a secret, outputs, an artifact
    failed = create(operator_client, template="flaky")
    run_tasks()
    rerun = operator_client.post(
        f"{JOBS}{failed}/rerun/", {"from": "failed"}, format="json"
    ).json()["id"]
    run_tasks()
    draft = create(operator_client, template="greet", start=False)
    # A job with a secret (stored masked: jobsite/secrets.py) and an error and outputs
    # as the worker records them, masked.
    leaky = create(
        operator_client, template="greet", start=False, variables={"token": "hunter2-secret"}
    )
    Job.objects.filter(pk=leaky).update(error="refused ***")
    StepRun.objects.filter(job_id=leaky, step_id="hello").update(
        error="saw ***",
        outputs={"t": "***", "f": 1.5, "n": [1, {"x": None}], "ü": "é"},
    )
    # Names that sort differently by byte and by a language's collation, and need quoting in a URL.
    for name in ("step:hello.b.txt", "step:hello.B.txt", "step:hello.é 100%.txt", "input"):
        artifact = Artifact(
            job_id=leaky,
            step_id="" if name == "input" else "hello",
            name=name,
            size=1,
            sha256="0" * 64,
        )
        artifact.file.save("x.txt", ContentFile(b"x"), save=True)
    recipe = create_job(
        workspace, recipe={"steps": [{"id": "only", "type": "noop"}]}, start=False
    ).pk

    assert Job.objects.get(pk=failed).status == "failed"
    assert Job.objects.get(pk=rerun).original_job_id is not None
    for job_id in (succeeded, failed, rerun, draft, leaky, recipe):
        for path in (f"{JOBS}{job_id}/", f"{JOBS}{job_id}/status/"):
            lean, drf = lean_and_drf(operator_client, path, monkeypatch)
            assert lean.status_code == 200
            assert_same_answer(lean, drf)
            assert b"hunter2-secret" not in lean.content
        etag = lean["ETag"]
        unchanged = lean_and_drf(
            operator_client, f"{JOBS}{job_id}/status/", monkeypatch, HTTP_IF_NONE_MATCH=etag
        )
        assert unchanged[0].status_code == 304
        assert_same_answer(*unchanged)
    # The artifact list shows them as the job does, in the same order.
    shown = operator_client.get(f"{JOBS}{leaky}/").json()["artifacts"]
    assert [artifact["name"] for artifact in shown] == [
        "input",
        "step:hello.B.txt",
        "step:hello.b.txt",
        "step:hello.é 100%.txt",
    ]
    assert operator_client.get(f"{JOBS}{leaky}/artifacts/").json()["results"] == shown


def test_status_costs_one_query_and_the_job_three_with_an_api_key(
    viewer_client, workspace, greet, django_assert_num_queries
):
    job = create_job(workspace, template=greet)
    viewer_client.get(f"{JOBS}{job.pk}/status/")  # the key's first use writes last_used_at
    with django_assert_num_queries(1):  # the job joined to the key
        assert viewer_client.get(f"{JOBS}{job.pk}/status/").status_code == 200
    with django_assert_num_queries(1):  # the job with the key, its steps and its artifacts
        assert viewer_client.get(f"{JOBS}{job.pk}/").status_code == 200


@pytest.mark.parametrize("path", ["{id}/", "{id}/status/"])
def test_a_revoked_or_expired_key_is_refused_by_the_very_next_request(workspace, greet, path):
    job = create_job(workspace, template=greet)
    url = JOBS + path.format(id=job.pk)
    revoked, raw = ApiKey.issue(workspace, "ci", role=Role.VIEWER)
    client = client_for(raw)
    assert client.get(url).status_code == 200
    revoked.revoke()
    refused = client.get(url)
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"].startswith("Bearer")
    assert refused.json() == {
        "detail": "Invalid, expired or revoked API key.",
        "code": "authentication_failed",
    }

    expiring, raw = ApiKey.issue(
        workspace, "soon", role=Role.VIEWER, expires_at=timezone.now() + timedelta(hours=1)
    )
    client = client_for(raw)
    assert client.get(url).status_code == 200
    ApiKey.objects.filter(pk=expiring.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(url).status_code == 401


@pytest.mark.parametrize("path", ["{id}/", "{id}/status/"])
def test_another_workspaces_job_is_the_same_404_as_a_nonexistent_one(
    workspace, other_workspace, greet, api_key, path
):
    theirs = create_job(workspace, template=greet)
    outsider = client_for(api_key(Role.ADMIN, target=other_workspace))
    foreign = outsider.get(JOBS + path.format(id=theirs.pk))
    missing = outsider.get(JOBS + path.format(id="00000000-0000-0000-0000-000000000000"))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.content == missing.content == b'{"detail":"Not found.","code":"not_found"}'


def test_a_workspace_header_naming_the_keys_workspace_is_answered_and_another_is_403(
    workspace, other_workspace, greet, api_key, django_assert_num_queries
):
    job = create_job(workspace, template=greet)
    raw = api_key(Role.VIEWER)
    url = f"{JOBS}{job.pk}/status/"
    client_for(raw).get(url)  # the key's first use writes last_used_at
    with django_assert_num_queries(1):
        own = client_for(
            raw, HTTP_X_WORKSPACE_SLUG="acme", HTTP_X_WORKSPACE_ID=str(workspace.pk)
        ).get(url)
    assert own.status_code == 200
    answers = [
        client_for(raw, HTTP_X_WORKSPACE_SLUG=other_workspace.slug).get(url),
        client_for(raw, HTTP_X_WORKSPACE_ID=str(other_workspace.pk)).get(url),
        client_for(
            raw, HTTP_X_WORKSPACE_SLUG="acme", HTTP_X_WORKSPACE_ID=str(other_workspace.pk)
        ).get(url),
        client_for(raw, HTTP_X_WORKSPACE_SLUG="").get(url),
        client_for(raw, HTTP_X_WORKSPACE_SLUG="no-such-workspace").get(f"{JOBS}{job.pk}/"),
    ]
    assert {answer.status_code for answer in answers} == {403}
    assert len({answer.content for answer in answers}) == 1


def test_the_rate_limit_and_the_wrong_key_limit_still_hold(workspace, greet, api_key, settings):
    settings.JOBSITE_API_RATE_LIMIT = "3/minute"
    settings.JOBSITE_API_BAD_KEY_LIMIT = "2/minute"
    job = create_job(workspace, template=greet)
    client = client_for(api_key(Role.VIEWER))
    answers = [client.get(f"{JOBS}{job.pk}/status/") for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert [answer["RateLimit-Remaining"] for answer in answers] == ["2", "1", "0", "0"]
    assert int(answers[-1]["Retry-After"]) >= 1

    for _ in range(2):
        assert client_for("jsk_wrong").get(f"{JOBS}{job.pk}/").status_code == 401
    # The next wrong key from that address is refused; a valid one is not.
    assert client_for("jsk_wrong").get(f"{JOBS}{job.pk}/").status_code == 429
    assert client_for(api_key(Role.VIEWER)).get(f"{JOBS}{job.pk}/").status_code == 200


def test_last_used_at_is_written_at_most_once_a_minute(workspace, greet, django_assert_num_queries):
    job = create_job(workspace, template=greet)
    key, raw = ApiKey.issue(workspace, "poller", role=Role.VIEWER)
    client = client_for(raw)
    with django_assert_num_queries(2):  # the job with the key, and the write
        client.get(f"{JOBS}{job.pk}/status/")
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None
    client.get(f"{JOBS}{job.pk}/status/")
    key.refresh_from_db()
    assert key.last_used_at == first
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - timedelta(minutes=2))
    client.get(f"{JOBS}{job.pk}/")
    key.refresh_from_db()
    assert key.last_used_at > first


def test_a_session_and_the_browsable_api_are_still_answered_by_drf(workspace, greet, api_key):
    job = create_job(workspace, template=greet)
    user = get_user_model().objects.create_user("sam", "sam@example.invalid", "pw")
    Membership.objects.create(workspace=workspace, user=user, role=Role.VIEWER)
    session = APIClient()
    session.force_login(user)
    by_session = session.get(f"{JOBS}{job.pk}/status/")
    by_key = client_for(api_key(Role.VIEWER)).get(f"{JOBS}{job.pk}/status/")
    assert by_session.status_code == 200
    assert by_session.content == by_key.content
    page = client_for(api_key(Role.VIEWER)).get(f"{JOBS}{job.pk}/", HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    assert page["Content-Type"].startswith("text/html")
    indented = client_for(api_key(Role.VIEWER)).get(
        f"{JOBS}{job.pk}/", HTTP_ACCEPT="application/json; indent=2"
    )
    assert indented.content.startswith(b'{\n  "id"')


def test_the_201_of_a_new_job_is_the_job_as_drf_serializes_it_read_back(
    operator_client, workspace, greet, monkeypatch
):
    """POST jobs/ answers from the instances create_job made (no query); the body must
    be what JobSerializer gives for the same job read from the database — started or a
    draft, with a secret, per-step params, and an input artifact."""
    source = create_job(workspace, template=greet, start=False)
    artifact = Artifact(
        job=source, step_id="hello", name="step:hello.out.txt", size=1, sha256="0" * 64
    )
    artifact.file.save("out.txt", ContentFile(b"x"), save=True)
    for start in (True, False):
        posted = operator_client.post(
            JOBS,
            {
                "template": "greet",
                "start": start,
                "variables": {"who": "bo", "token": "s3cret-value"},
                "inputs": {"data.txt": f"{source.pk}/step:hello.out.txt"},
                "name": f"start={start}",
            },
            format="json",
        )
        assert posted.status_code == 201, posted.content
        body = posted.json()
        assert body["status"] == ("queued" if start else "draft")
        assert body["variables"]["token"] == "***" and [a["name"] for a in body["artifacts"]] == [
            "data.txt"
        ]
        with monkeypatch.context() as patched:
            through_drf(patched)
            read_back = operator_client.get(posted["Location"])
        assert read_back.status_code == 200
        assert posted.content == read_back.content


SUMMARY_FIELDS = (
    "id",
    "workspace_id",
    "name",
    "type",
    "template",
    "status",
    "trigger",
    "created_by",
    "variables",
    "created_at",
    "updated_at",
    "queued_at",
    "started_at",
    "finished_at",
    "duration_ms",
    "error",
    "waiting_reason",
    "progress",
    "original_job_id",
    "attempt",
    "last_event_seq",
    "links",
)


def test_every_answer_that_shows_a_job_shows_it_the_same_way(
    operator_client, workspace, greet, monkeypatch
):
    """The list, the job (lean and through DRF), status/, the 202 of cancel/ and the
    webhook payload all come from jobs/representation.py: where they show the same
    field, they show the same value."""
    job_id = create(
        operator_client, template="greet", start=False, variables={"token": "hunter2-secret"}
    )
    Job.objects.filter(pk=job_id).update(error="refused ***")  # as the worker stores it
    lean = operator_client.get(f"{JOBS}{job_id}/").json()
    with monkeypatch.context() as patched:
        through_drf(patched)
        drf = operator_client.get(f"{JOBS}{job_id}/").json()
    assert lean == drf
    listed = next(job for job in operator_client.get(JOBS).json()["results"] if job["id"] == job_id)
    assert listed == {name: lean[name] for name in SUMMARY_FIELDS}
    status = operator_client.get(f"{JOBS}{job_id}/status/").json()
    assert status == {name: lean[name] for name in status}
    assert lean["error"] == "refused ***" and lean["variables"]["token"] == "***"

    canceled = operator_client.post(f"{JOBS}{job_id}/cancel/", {}, format="json")
    assert canceled.status_code == 202
    after = operator_client.get(f"{JOBS}{job_id}/").json()
    assert canceled.json() == {**after, "duration_ms": canceled.json()["duration_ms"]}

    webhook = job_payload(Job.objects.select_related("workspace").get(pk=job_id), "job.canceled")[
        "data"
    ]
    assert {
        name: webhook[name]
        for name in (
            "id",
            "name",
            "type",
            "status",
            "trigger",
            "error",
            "created_at",
            "finished_at",
        )
    } == {
        name: after[name]
        for name in (
            "id",
            "name",
            "type",
            "status",
            "trigger",
            "error",
            "created_at",
            "finished_at",
        )
    }


LEAKY = """
slug: leaky
name: Leaky
variables:
  token: {type: secret, required: true}
steps:
  - id: hello
    type: shell
    with:
      script: |
        echo "curl: $VAR_TOKEN rejected" >&2
        exit 1
"""


def test_a_webhook_payload_masks_the_jobs_secrets_in_its_errors(workspace, run_tasks):
    """A receiver of webhooks is outside the workspace: a secret variable quoted in the
    job's or a step's error reads *** there as in the API (the worker masked it before
    storing it: jobsite/secrets.py)."""
    job = create_job(
        workspace, template=make_template(workspace, LEAKY), variables={"token": "hunter2-secret"}
    )
    run_tasks()
    job.refresh_from_db()
    step = job.steps.get(step_id="hello")
    body = json.dumps(job_payload(job, "step.failed", step))
    assert "hunter2-secret" not in body
    assert (
        json.loads(body)["data"]["error"]
        == "step hello failed: exited with code 1: curl: *** rejected"
    )


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/St_Johns"])
def test_timestamps_read_as_drf_writes_them_in_any_current_time_zone(zone):
    moments = [
        timezone.now(),
        datetime(2026, 7, 1, 12, 0, tzinfo=UTC),
        datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    ]
    with timezone.override(zone):
        for moment in moments:
            assert format_datetime(moment) == serializers.DateTimeField().to_representation(moment)
