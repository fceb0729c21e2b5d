"""Idempotency-Key (SPEC §6.6): a retried POST never makes a second job."""

import json
import threading
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import IdempotencyRecord, Job
from jobsite.models import Role
from tests.api.conftest import client_for

JOBS = "/api/v1/jobs/"


def post(client, body, key):
    return client.post(JOBS, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_the_same_key_and_body_replays_the_original_response(operator_client, greet):
    body = {"template": "greet", "variables": {"who": "ann"}}
    first = post(operator_client, body, "order-42")
    second = post(operator_client, body, "order-42")
    assert first.status_code == second.status_code == 201
    assert first.content == second.content
    assert first["Location"] == second["Location"]
    assert "Idempotent-Replayed" not in first
    assert second["Idempotent-Replayed"] == "true"
    assert Job.objects.count() == 1


def test_the_same_key_with_another_body_is_409(operator_client, greet):
    post(operator_client, {"template": "greet", "variables": {"who": "ann"}}, "order-43")
    response = post(operator_client, {"template": "greet", "variables": {"who": "bob"}}, "order-43")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"
    assert Job.objects.count() == 1


def test_the_same_key_in_another_workspace_is_independent(
    operator_client, api_key, other_workspace, greet
):
    from tests.api.conftest import GREET
    from tests.jobs.helpers import make_template

    make_template(other_workspace, GREET)
    outsider = client_for(api_key(Role.OPERATOR, target=other_workspace))
    body = {"template": "greet"}
    ours = post(operator_client, body, "shared-key")
    theirs = post(outsider, body, "shared-key")
    assert ours.status_code == theirs.status_code == 201
    assert ours.json()["id"] != theirs.json()["id"]
    assert "Idempotent-Replayed" not in theirs
    assert Job.objects.filter(workspace=other_workspace).count() == 1


def test_a_refused_request_is_not_remembered_so_the_fixed_one_goes_through(operator_client, greet):
    bad = post(operator_client, {"template": "greet", "variables": {"times": 99}}, "retry-me")
    assert bad.status_code == 400
    good = post(operator_client, {"template": "greet", "variables": {"times": 2}}, "retry-me")
    assert good.status_code == 201
    assert "Idempotent-Replayed" not in good


def test_a_key_is_forgotten_after_24_hours(operator_client, greet):
    first = post(operator_client, {"template": "greet"}, "daily")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    second = post(operator_client, {"template": "greet"}, "daily")
    assert second.status_code == 201 and "Idempotent-Replayed" not in second
    assert first.json()["id"] != second.json()["id"]
    assert IdempotencyRecord.objects.count() == 1


def test_a_rerun_with_an_idempotency_key_happens_once(operator_client, workspace, greet):
    from jobs.services import create_job

    job = create_job(workspace, template=greet, start=False)
    Job.objects.filter(pk=job.pk).update(status="failed")
    url = f"{JOBS}{job.pk}/rerun/"
    first = operator_client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="rerun-1")
    second = operator_client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="rerun-1")
    assert first.status_code == 201 and second["Idempotent-Replayed"] == "true"
    assert Job.objects.filter(original_job=job).count() == 1


def test_an_unusable_idempotency_key_is_400(operator_client, greet):
    response = post(operator_client, {"template": "greet"}, "x" * 300)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["errors"]


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_identical_posts_make_one_job_and_identical_responses(
    live_server, workspace, greet, api_key
):
    raw = api_key(Role.OPERATOR)
    body = json.dumps({"template": "greet", "variables": {"who": "race"}}).encode()
    start = threading.Barrier(20)
    answers = [None] * 20

    def send(index):
        request = urllib.request.Request(
            f"{live_server.url}{JOBS}",
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {raw}",
                "Content-Type": "application/json",
                "Idempotency-Key": "race-1",
            },
        )
        start.wait()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                answers[index] = (
                    response.status,
                    response.read(),
                    response.headers["Location"],
                    response.headers["Idempotent-Replayed"],
                )
        except urllib.error.HTTPError as error:
            answers[index] = (error.code, error.read(), None, None)

    threads = [threading.Thread(target=send, args=(index,)) for index in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)

    assert Job.objects.count() == 1
    assert {answer[0] for answer in answers} == {201}
    assert len({answer[1] for answer in answers}) == 1
    assert len({answer[2] for answer in answers}) == 1
    assert sorted(answer[3] or "original" for answer in answers) == ["original"] + ["true"] * 19
    assert json.loads(answers[0][1])["id"] == str(Job.objects.get().pk)
