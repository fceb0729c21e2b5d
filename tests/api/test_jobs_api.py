"""jobs/ endpoints: each one's success and its documented errors (SPEC §6.2, §6.3)."""

import threading

from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.engine.states import JobStatus
from jobs.models import Job, StepRun
from jobs.services import create_job
from tests.jobs.helpers import make_template

JOBS = "/api/v1/jobs/"


def create(client, **payload):
    payload.setdefault("template", "greet")
    response = client.post(JOBS, payload, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_creating_a_job_answers_201_with_location_links_and_the_whole_job(operator_client, greet):
    response = operator_client.post(
        JOBS, {"template": "greet", "variables": {"who": "ann"}, "name": "Hi Ann"}, format="json"
    )
    assert response.status_code == 201
    job = response.json()
    assert response["Location"] == f"http://testserver/api/v1/jobs/{job['id']}/"
    assert job["status"] == "queued"
    assert job["name"] == "Hi Ann"
    assert job["template"] == {"id": str(greet.pk), "slug": "greet", "version": 1}
    assert job["trigger"] == "api"
    assert job["created_by"] == "key:operator-key"
    assert job["variables"] == {"who": "ann", "times": 1, "token": "***"}
    assert job["progress"] == {"percentage": 0.0, "completed_steps": 0, "total_steps": 2}
    assert [step["id"] for step in job["steps"]] == ["hello", "report"]
    assert job["steps"][0]["status"] == "queued"
    assert job["waiting_reason"] == "waiting for a free worker"
    assert job["result"] is None and job["original_job_id"] is None and job["attempt"] == 1
    assert set(job["links"]) == {
        "self",
        "status",
        "events",
        "logs",
        "result",
        "artifacts",
        "run",
        "cancel",
        "rerun",
        "ui",
    }
    assert job["links"]["logs"].endswith(f"/api/v1/jobs/{job['id']}/logs/")
    assert job["last_event_seq"] >= 1


def test_a_template_can_be_named_by_id_and_a_job_created_as_a_draft(operator_client, greet):
    job = create(operator_client, template=str(greet.pk), start=False)
    assert job["status"] == "draft"
    assert job["steps"][0]["status"] == "pending"


def test_run_starts_a_draft_and_refuses_anything_else(operator_client, greet):
    job = create(operator_client, start=False)
    response = operator_client.post(job["links"]["run"])
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    again = operator_client.post(job["links"]["run"])
    assert again.status_code == 409
    assert again.json()["code"] == "conflict"
    assert "draft" in again.json()["detail"]


def test_an_unknown_or_archived_template_is_400(admin_client, greet):
    response = admin_client.post(JOBS, {"template": "nope"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"template": ["no such template in this workspace"]}
    admin_client.delete(f"/api/v1/templates/{greet.pk}/")
    response = admin_client.post(JOBS, {"template": "greet"}, format="json")
    assert response.json()["errors"] == {"template": ["this template is archived"]}


def test_a_missing_required_variable_is_400_naming_it(operator_client, workspace):
    make_template(
        workspace,
        "slug: needy\nname: Needy\nvariables:\n  region: {type: choice, choices: [eu, us], required: true}\nsteps:\n  - {id: a, type: noop}\n",
    )
    response = operator_client.post(JOBS, {"template": "needy"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"variables.region": ["this variable is required"]}


def test_an_inline_recipe_with_per_step_params_needs_the_admin_role(admin_client, operator_client):
    recipe = {
        "name": "Adhoc",
        "steps": [
            {
                "id": "fetch",
                "type": "noop",
                "params": {"limit": {"type": "integer", "required": True}},
                "with": {"outputs": {"limit": "{{ params.limit }}"}},
            },
        ],
    }
    refused = operator_client.post(
        JOBS, {"recipe": recipe, "params": {"fetch": {"limit": 5}}}, format="json"
    )
    assert refused.status_code == 403
    missing = admin_client.post(JOBS, {"recipe": recipe}, format="json")
    assert missing.status_code == 400
    assert missing.json()["errors"] == {"params.fetch.limit": ["this parameter is required"]}
    response = admin_client.post(
        JOBS, {"recipe": recipe, "params": {"fetch": {"limit": 5}}}, format="json"
    )
    assert response.status_code == 201
    job = response.json()
    assert (
        job["template"] is None
        and job["name"] == "Adhoc"
        and job["params"] == {"fetch": {"limit": 5}}
    )


def test_a_bad_recipe_is_400_with_the_definition_errors(admin_client):
    recipe = {
        "steps": [{"id": "a", "type": "teleport"}, {"id": "b", "type": "noop", "needs": ["c"]}]
    }
    response = admin_client.post(JOBS, {"recipe": recipe}, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert any(
        key.startswith("recipe.steps") and "teleport" in " ".join(msgs)
        for key, msgs in errors.items()
    )
    assert any("c" in " ".join(msgs) for key, msgs in errors.items() if "needs" in key)


def test_the_list_is_newest_first_and_pages_by_cursor_without_counting(
    operator_client, workspace, greet
):
    for index in range(5):
        create_job(workspace, template=greet, name=f"job {index}", start=False)
    with CaptureQueriesContext(connection) as queries:
        first = operator_client.get(f"{JOBS}?limit=2").json()
    assert not any("COUNT(" in query["sql"].upper() for query in queries.captured_queries)
    # One key lookup and one page query, however many jobs: the serializer never queries.
    assert len(queries.captured_queries) <= 3, [query["sql"] for query in queries.captured_queries]
    assert [job["name"] for job in first["results"]] == ["job 4", "job 3"]
    second = operator_client.get(first["next"]).json()
    assert [job["name"] for job in second["results"]] == ["job 2", "job 1"]
    third = operator_client.get(f"{JOBS}?limit=2&cursor={second['next_cursor']}").json()
    assert [job["name"] for job in third["results"]] == ["job 0"]
    assert third["next_cursor"] is None and third["next"] is None
    assert "steps" not in first["results"][0]


def test_the_list_filters_by_status_template_type_trigger_name_and_time(
    operator_client, workspace, greet, flaky
):
    draft = create_job(workspace, template=greet, name="Nightly greet", start=False)
    create_job(workspace, template=flaky, name="Flaky run", start=False)
    queued = create_job(workspace, template=greet, name="Morning greet")

    def names(query):
        response = operator_client.get(f"{JOBS}?{query}")
        assert response.status_code == 200, response.content
        return sorted(job["name"] for job in response.json()["results"])

    assert names("status=draft") == ["Flaky run", "Nightly greet"]
    assert names("status=queued,running") == ["Morning greet"]
    assert names("template=flaky") == ["Flaky run"]
    assert names(f"template={greet.pk}") == ["Morning greet", "Nightly greet"]
    assert names("template=unknown") == []
    assert names("type=demo&q=greet") == ["Morning greet", "Nightly greet"]
    assert names("trigger=api") == ["Flaky run", "Morning greet", "Nightly greet"]
    assert names("trigger=schedule") == []
    stamp = draft.created_at.isoformat().replace("+00:00", "Z")
    assert names(f"created_after={stamp}") == ["Flaky run", "Morning greet"]
    assert names(f"created_before={queued.created_at.isoformat().replace('+00:00', 'Z')}") == [
        "Flaky run",
        "Nightly greet",
    ]


def test_a_nonexistent_job_is_404(viewer_client):
    response = viewer_client.get(f"{JOBS}00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_status_answers_304_to_its_own_etag_until_something_changes(operator_client, greet):
    job = create(operator_client, start=False)
    first = operator_client.get(job["links"]["status"])
    assert first.status_code == 200
    assert set(first.json()) >= {"id", "status", "progress", "updated_at", "finished_at", "error"}
    etag = first["ETag"]
    unchanged = operator_client.get(job["links"]["status"], HTTP_IF_NONE_MATCH=etag)
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    operator_client.post(job["links"]["run"])
    changed = operator_client.get(job["links"]["status"], HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed.json()["status"] == "queued"
    assert changed["ETag"] != etag


def test_cancel_ends_a_draft_at_once_and_a_finished_job_is_409(operator_client, greet):
    job = create(operator_client, start=False)
    response = operator_client.post(job["links"]["cancel"])
    assert response.status_code == 202
    assert response.json()["status"] == "canceled"
    again = operator_client.post(job["links"]["cancel"], {"force": True}, format="json")
    assert again.status_code == 409
    assert "canceled" in again.json()["detail"]


def test_force_cancel_marks_a_running_job_canceled_even_without_its_worker(
    operator_client, workspace, slow
):
    job = create_job(workspace, template=slow)
    step = job.steps.get()
    StepRun.objects.filter(pk=step.pk).update(status="running", worker_id="gone")
    Job.objects.filter(pk=job.pk).update(status="running")
    response = operator_client.post(f"{JOBS}{job.pk}/cancel/", {"force": True}, format="json")
    assert response.status_code == 202
    assert response.json()["status"] == "canceled"
    assert response.json()["steps"][0]["status"] == "canceled"


def test_rerun_and_result_refuse_a_job_that_has_not_finished(operator_client, greet):
    job = create(operator_client)
    assert operator_client.post(job["links"]["rerun"], {}, format="json").status_code == 409
    result = operator_client.get(job["links"]["result"])
    assert result.status_code == 409
    assert result.json()["code"] == "not_finished"


def test_events_page_by_seq(operator_client, greet):
    job = create(operator_client, start=False)
    operator_client.post(job["links"]["run"])
    page = operator_client.get(f"{job['links']['events']}?limit=1").json()
    assert [event["seq"] for event in page["events"]] == [1]
    assert page["complete"] is False
    rest = operator_client.get(
        f"{job['links']['events']}?after={page['next_after']}&limit=1000"
    ).json()
    seqs = [event["seq"] for event in rest["events"]]
    assert seqs == list(range(2, 2 + len(seqs)))
    kinds = {event["kind"] for event in page["events"] + rest["events"]}
    assert {"job.status", "step.status"} <= kinds


def test_a_job_runs_and_its_logs_result_and_artifacts_can_be_read(
    operator_client, greet, run_tasks
):
    job = create(operator_client, variables={"who": "ann"})
    run_tasks()
    detail = operator_client.get(job["links"]["self"]).json()
    assert detail["status"] == "succeeded"
    assert detail["progress"] == {"percentage": 100.0, "completed_steps": 2, "total_steps": 2}
    hello = detail["steps"][0]
    assert (
        hello["outputs"] == {"who": "ann"}
        and hello["exit_code"] == 0
        and hello["duration_ms"] is not None
    )
    assert hello["worker"] and hello["started_at"] and hello["finished_at"]
    assert detail["result"]["markdown"] == "# Hello ann"
    assert detail["duration_ms"] >= 0

    logs = operator_client.get(job["links"]["logs"])
    assert logs["Content-Type"].startswith("text/plain")
    assert (
        logs.content.decode()
        == "INFO: [hello] hello ann (token ***)\nWARN: [hello] just a warning\n"
    )
    assert logs["X-Log-Complete"] == "true"
    after = logs["X-Next-After"]
    assert operator_client.get(f"{job['links']['logs']}?after={after}").content == b""
    assert (
        operator_client.get(f"{job['links']['logs']}?level=warn").content
        == b"WARN: [hello] just a warning\n"
    )
    assert (
        operator_client.get(f"{job['links']['logs']}?tail=1").content
        == b"WARN: [hello] just a warning\n"
    )
    assert operator_client.get(f"{job['links']['logs']}?step=report").content == b""
    first = operator_client.get(f"{job['links']['logs']}?limit=1")
    assert first.content.count(b"\n") == 1 and first["X-Log-Complete"] == "false"

    markdown = operator_client.get(job["links"]["result"])
    assert markdown["Content-Type"].startswith("text/markdown")
    assert markdown.content == b"# Hello ann"
    as_json = operator_client.get(job["links"]["result"], HTTP_ACCEPT="application/json")
    assert as_json.json() == {
        "markdown": "# Hello ann",
        "outputs": {"hello": {"who": "ann"}, "report": {"markdown": "# Hello ann"}},
    }

    artifacts = operator_client.get(job["links"]["artifacts"]).json()["results"]
    assert [(a["name"], a["step"], a["size"]) for a in artifacts] == [
        ("step:hello.hello.txt", "hello", 17)
    ]
    download = operator_client.get(artifacts[0]["url"])
    assert download.status_code == 200
    assert download["Content-Type"] == "text/plain"
    assert download["Content-Length"] == "17"
    assert download["Content-Disposition"] == 'attachment; filename="hello.txt"'
    assert b"".join(download.streaming_content) == b"greeting for ann\n"
    missing = operator_client.get(artifacts[0]["url"] + "x")
    assert missing.status_code == 404


def test_logs_follow_streams_until_the_job_finishes(operator_client, greet, run_tasks, settings):
    settings.JOBSITE_API_LOG_POLL_SECONDS = 0.05
    job = create(operator_client)
    response = operator_client.get(f"{job['links']['logs']}?follow=1")
    assert response.streaming
    assert "X-Next-After" not in response
    following = threading.Event()

    def follow():
        following.set()  # the step runs while the client is reading the stream
        yield from response.streaming_content

    worker = threading.Thread(target=lambda: (following.wait(10), run_tasks()))
    worker.start()
    text = b"".join(follow()).decode()
    worker.join()
    assert text == "INFO: [hello] hello world (token ***)\nWARN: [hello] just a warning\n"


def test_rerun_makes_a_new_job_pointing_at_the_original(operator_client, flaky, run_tasks):
    job = create(operator_client, template="flaky")
    run_tasks()
    failed = operator_client.get(job["links"]["self"]).json()
    assert failed["status"] == "failed"
    assert failed["error"]

    only_failed = operator_client.post(
        failed["links"]["rerun"], {"from": "failed", "variables": {"fail": False}}, format="json"
    )
    assert only_failed.status_code == 201
    rerun = only_failed.json()
    assert only_failed["Location"].endswith(f"/api/v1/jobs/{rerun['id']}/")
    assert (
        rerun["original_job_id"] == job["id"]
        and rerun["attempt"] == 2
        and rerun["trigger"] == "rerun"
    )
    assert rerun["variables"] == {"fail": False}
    steps = {step["id"]: step for step in rerun["steps"]}
    assert steps["first"]["status"] == "succeeded" and steps["first"]["reused"] is True
    run_tasks()
    assert operator_client.get(rerun["links"]["status"]).json()["status"] == "succeeded"

    everything = operator_client.post(failed["links"]["rerun"], format="json").json()
    assert {step["reused"] for step in everything["steps"]} == {False}
    bad = operator_client.post(
        failed["links"]["rerun"], {"variables": {"fail": "perhaps"}}, format="json"
    )
    assert bad.status_code == 400 and "variables.fail" in bad.json()["errors"]
    assert (
        operator_client.post(
            failed["links"]["rerun"], {"from": "middle"}, format="json"
        ).status_code
        == 400
    )


def test_a_rerun_keeps_a_secret_sent_back_masked(operator_client, workspace, greet):
    job = create_job(workspace, template=greet, variables={"token": "real-secret"}, start=False)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED)
    response = operator_client.post(
        f"{JOBS}{job.pk}/rerun/", {"variables": {"token": "***", "who": "zed"}}, format="json"
    )
    assert response.status_code == 201
    new = Job.objects.get(pk=response.json()["id"])
    assert (
        new.unsealed_values()[0]["token"] == "real-secret"
        and new.unsealed_values()[0]["who"] == "zed"
    )
    assert response.json()["variables"]["token"] == "***"


def test_inputs_reference_another_jobs_artifact(operator_client, greet, run_tasks):
    source = create(operator_client, variables={"who": "ann"})
    run_tasks()
    reference = f"{source['id']}/step:hello.hello.txt"
    job = create(operator_client, inputs={"greeting.txt": reference}, start=False)
    assert job["inputs"] == {"greeting.txt": reference}
    assert [(a["name"], a["step"], a["size"]) for a in job["artifacts"]] == [
        ("greeting.txt", None, 17)
    ]
    bad = operator_client.post(
        JOBS, {"template": "greet", "inputs": {"x.txt": f"{source['id']}/nope"}}, format="json"
    )
    assert bad.status_code == 400
    assert list(bad.json()["errors"]) == ["inputs.x.txt"]


CHAIN = """
slug: chain
name: Chain
steps:
  - id: fetch
    type: shell
    with: {script: "echo fetched"}
  - id: transform
    type: shell
    needs: [fetch]
    with: {script: "echo transformed"}
  - id: publish
    type: shell
    needs: [transform]
    with: {script: "echo published"}
  - id: audit
    type: shell
    with: {script: "echo audited"}
"""


def test_rerun_from_a_step_runs_it_and_what_follows_and_reuses_the_rest(
    operator_client, workspace, run_tasks
):
    from tests.jobs.helpers import make_template

    make_template(workspace, CHAIN)
    job = create(operator_client, template="chain")
    run_tasks()
    assert operator_client.get(job["links"]["status"]).json()["status"] == "succeeded"
    response = operator_client.post(job["links"]["rerun"], {"from": "transform"}, format="json")
    assert response.status_code == 201, response.content
    steps = {step["id"]: step for step in response.json()["steps"]}
    assert steps["fetch"]["reused"] and steps["audit"]["reused"]  # upstream and unrelated
    assert not steps["transform"]["reused"] and not steps["publish"]["reused"]
    run_tasks()
    rerun = operator_client.get(response.json()["links"]["self"]).json()
    assert rerun["status"] == "succeeded" and rerun["original_job_id"] == job["id"]
    logs = operator_client.get(rerun["links"]["logs"]).content.decode()
    assert "transformed" in logs and "published" in logs and "fetched" not in logs

    unknown = operator_client.post(job["links"]["rerun"], {"from": "nowhere"}, format="json")
    assert unknown.status_code == 400 and "from" in unknown.json()["errors"]


def test_logs_q_returns_only_the_lines_that_contain_the_text(operator_client, workspace, run_tasks):
    from tests.jobs.helpers import make_template

    make_template(workspace, CHAIN)
    job = create(operator_client, template="chain")
    run_tasks()
    found = operator_client.get(f"{job['links']['logs']}?q=TRANSFORM")
    assert found.status_code == 200
    assert found.content.decode() == "INFO: [transform] transformed\n"
    assert operator_client.get(f"{job['links']['logs']}?q=nothing-like-it").content == b""
    assert operator_client.get(f"{job['links']['logs']}?q={'x' * 201}").status_code == 400


def test_a_job_with_neither_template_nor_recipe_is_400_asking_for_one(operator_client):
    response = operator_client.post(JOBS, {"variables": {}}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "template": ["this field is required: give a template (id or slug) or an inline recipe"]
    }
