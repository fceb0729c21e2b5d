"""POST jobs/batch/ (SPEC §6.2): many jobs in one transaction, all or nothing, errors
under jobs[i].…, idempotent; 1,000 jobs in one call."""

import time

import pytest

from jobs.engine.concurrency import WAITING_FOR_WORKER
from jobs.models import Job

BATCH = "/api/v1/jobs/batch/"


def test_a_batch_creates_every_job_in_order(operator_client, greet):
    specs = [
        {"template": "greet", "variables": {"who": f"n{i}"}, "start": i % 2 == 0} for i in range(3)
    ]
    response = operator_client.post(BATCH, {"jobs": specs}, format="json")
    assert response.status_code == 201, response.content
    jobs = response.json()["jobs"]
    assert [job["variables"]["who"] for job in jobs] == ["n0", "n1", "n2"]
    assert [job["status"] for job in jobs] == ["queued", "draft", "queued"]
    assert Job.objects.count() == 3


def test_one_bad_job_creates_none_and_every_problem_is_named_by_index(operator_client, greet):
    specs = [
        {"template": "greet"},
        {"template": "greet", "variables": {"times": 9}},
        {"template": "nope"},
        {"variables": {}},
        {"template": "greet", "colour": "red"},
    ]
    response = operator_client.post(BATCH, {"jobs": specs}, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {
        "jobs[1].variables.times",
        "jobs[2].template",
        "jobs[3].template",
        "jobs[4].colour",
    }
    assert errors["jobs[1].variables.times"] == ["must be at most 5"]
    assert Job.objects.count() == 0
    later = operator_client.post(
        BATCH,
        {"jobs": [{"template": "greet"}, {"template": "greet", "variables": {"times": 9}}]},
        format="json",
    )
    assert later.status_code == 400 and list(later.json()["errors"]) == ["jobs[1].variables.times"]
    assert Job.objects.count() == 0


def test_a_batch_is_idempotent(operator_client, greet):
    body = {"jobs": [{"template": "greet"}, {"template": "greet"}]}
    first = operator_client.post(BATCH, body, format="json", HTTP_IDEMPOTENCY_KEY="batch-1")
    again = operator_client.post(BATCH, body, format="json", HTTP_IDEMPOTENCY_KEY="batch-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.content == first.content
    assert Job.objects.count() == 2
    other = operator_client.post(
        BATCH, {"jobs": [{"template": "greet"}]}, format="json", HTTP_IDEMPOTENCY_KEY="batch-1"
    )
    assert other.status_code == 409


def test_a_batch_is_limited_to_1000_jobs_and_recipes_need_an_admin(operator_client, greet):
    too_many = operator_client.post(BATCH, {"jobs": [{"template": "greet"}] * 1001}, format="json")
    assert too_many.status_code == 400 and "jobs" in too_many.json()["errors"]
    empty = operator_client.post(BATCH, {"jobs": []}, format="json")
    assert empty.status_code == 400
    recipe = operator_client.post(
        BATCH, {"jobs": [{"recipe": {"steps": [{"id": "a", "type": "noop"}]}}]}, format="json"
    )
    assert recipe.status_code == 403


@pytest.mark.slow  # 1.5 s on SQLite (4.5 s when each job was created on its own)
def test_1000_jobs_in_one_call(operator_client, greet):
    body = {"jobs": [{"template": "greet", "variables": {"who": f"w{i}"}} for i in range(1000)]}
    started = time.monotonic()
    response = operator_client.post(BATCH, body, format="json")
    seconds = time.monotonic() - started
    assert response.status_code == 201, response.content[:500]
    jobs = response.json()["jobs"]
    assert len(jobs) == 1000 and jobs[999]["variables"]["who"] == "w999"
    assert Job.objects.count() == 1000
    print(f"\n1000 jobs: {seconds:.1f} s")


LIMITED = """
slug: limited
name: Limited
variables:
  region: {type: string, default: eu}
steps:
  - {id: s, type: noop}
settings:
  concurrency: {limit: 1, key: "{{ vars.region }}", when_full: WHEN_FULL}
"""


def test_a_batch_mixing_limited_and_plain_jobs_keeps_the_limit(operator_client, workspace, greet):
    from tests.jobs.helpers import make_template

    make_template(workspace, LIMITED.replace("WHEN_FULL", "queue"))
    specs = [{"template": "limited"}, {"template": "greet"}, {"template": "limited"}]
    specs.append({"template": "limited", "variables": {"region": "us"}})
    response = operator_client.post(BATCH, {"jobs": specs}, format="json")
    assert response.status_code == 201, response.content
    answered = response.json()["jobs"]
    assert [job["status"] for job in answered] == ["queued"] * 4
    jobs = [Job.objects.get(pk=job["id"]) for job in answered]
    # The second "eu" job waits for the first's slot; "us" has a slot of its own.
    assert [job.waiting_reason == WAITING_FOR_WORKER for job in jobs] == [True, True, False, True]
    firsts = [job.steps.order_by("position").first().status for job in jobs]
    assert firsts == ["queued", "queued", "pending", "queued"]


def test_a_batch_whose_limited_job_is_rejected_creates_nothing(operator_client, workspace, greet):
    from tests.jobs.helpers import make_template

    make_template(workspace, LIMITED.replace("WHEN_FULL", "reject"))
    specs = [{"template": "greet"}, {"template": "limited"}, {"template": "limited"}]
    response = operator_client.post(BATCH, {"jobs": specs}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "concurrency_limit"
    assert Job.objects.count() == 0


def test_secrets_of_a_batch_are_sealed_and_masked_in_the_answer(operator_client, greet):
    specs = [{"template": "greet", "variables": {"token": f"tok-{i}"}} for i in range(3)]
    response = operator_client.post(BATCH, {"jobs": specs}, format="json")
    assert response.status_code == 201
    assert "tok-" not in response.content.decode()
    job = Job.objects.get(pk=response.json()["jobs"][2]["id"])
    assert "tok-2" not in str(job.variables) and job.unsealed_values()[0]["token"] == "tok-2"


def test_each_job_of_a_batch_gets_its_own_rows_for_the_inputs_it_names(
    operator_client, greet, run_tasks
):
    source = operator_client.post("/api/v1/jobs/", {"template": "greet"}, format="json").json()
    run_tasks()
    reference = f"{source['id']}/step:hello.hello.txt"
    specs = [
        {"template": "greet", "inputs": {"a.txt": reference}, "start": False},
        {"template": "greet"},
        {"template": "greet", "inputs": {"b.txt": reference, "c.txt": reference}},
    ]
    response = operator_client.post(BATCH, {"jobs": specs}, format="json")
    assert response.status_code == 201, response.content
    answered = response.json()["jobs"]
    assert [sorted(a["name"] for a in job["artifacts"]) for job in answered] == [
        ["a.txt"],
        [],
        ["b.txt", "c.txt"],
    ]
    for job in answered:
        stored = Job.objects.get(pk=job["id"]).artifacts.filter(step_id="")
        assert sorted(stored.values_list("name", flat=True)) == sorted(
            a["name"] for a in job["artifacts"]
        )


def test_the_kept_checker_answers_each_body_on_its_own(operator_client, greet):
    """POST jobs/ and jobs/batch/ validate with one JobCreateSerializer kept per thread
    (jobs/api/jobs_views.py checked_spec): nothing of one body reaches the next answer."""
    bodies = [
        ({"template": "greet", "start": "yes"}, 400, {"start"}),
        ({"template": "greet", "variables": {"who": "a"}}, 201, None),
        ([], 400, {"non_field_errors"}),
        ({"template": "greet", "recipe": {}}, 400, {"template"}),
        ({"template": "greet", "name": "second", "start": False}, 201, None),
    ]
    for body, status, error_keys in bodies:
        response = operator_client.post("/api/v1/jobs/", body, format="json")
        assert response.status_code == status, (body, response.content)
        if error_keys:
            assert set(response.json()["errors"]) == error_keys
    created = Job.objects.order_by("created_at")
    assert [(job.name, job.status) for job in created][-1] == ("second", "draft")
    assert created.count() == 2
    objects = [body for body, _, _ in bodies if isinstance(body, dict)]
    response = operator_client.post(BATCH, {"jobs": objects}, format="json")
    assert set(response.json()["errors"]) == {"jobs[0].start", "jobs[2].template"}
    assert Job.objects.count() == 2
