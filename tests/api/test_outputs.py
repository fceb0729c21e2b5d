"""Declared outputs (SPEC §3): `outputs:` in templates and recipes, resolved when the job
ends, shown in the job, result/ JSON and the final webhook; bad references refused."""

import json

from django.test import Client

from jobs.services import create_job
from tests.api.test_jobs_api import JOBS, create
from tests.jobs.helpers import make_template
from tests.jobs.test_webhooks import receiver  # noqa: F401 - the fixture

EXPORT = """
slug: export
name: Export
variables:
  region: {type: string, default: eu}
steps:
  - id: build
    type: shell
    with:
      script: |
        echo "a,b" > "$JOBSITE_ARTIFACTS/out.csv"
        echo "rows=41" >> "$JOBSITE_OUTPUT"
  - id: summary
    type: report
    needs: [build]
    with: {markdown: "# {{ steps.build.outputs.rows }} rows"}
outputs:
  rows: "{{ steps.build.outputs.rows }}"
  headline: "{{ vars.region }}: {{ steps.build.outputs.rows }} rows"
  csv: "artifact:build/out.csv"
  never: "{{ steps.build.outputs.missing }}"
"""


def test_declared_outputs_are_resolved_at_the_end_and_shown_everywhere(
    operator_client,
    operator_user,
    workspace,
    run_tasks,
    receiver,  # noqa: F811
):
    make_template(workspace, EXPORT)
    hook = receiver()
    job = create(operator_client, template="export", callback_url=hook.url)
    assert job["outputs"] == {}
    run_tasks()
    full = operator_client.get(job["links"]["self"]).json()
    assert full["status"] == "succeeded"
    outputs = full["outputs"]
    assert (
        outputs["rows"] == "41"
        and outputs["headline"] == "eu: 41 rows"
        and outputs["never"] is None
    )
    assert outputs["csv"]["artifact"] == "step:build.out.csv" and outputs["csv"]["size"] == 4
    assert outputs["csv"]["url"] == f"/api/v1/jobs/{job['id']}/artifacts/step:build.out.csv"
    assert b"".join(operator_client.get(outputs["csv"]["url"]).streaming_content) == b"a,b\n"

    result = operator_client.get(job["links"]["result"], HTTP_ACCEPT="application/json").json()
    assert result == {"markdown": "# 41 rows", "outputs": outputs}
    final = json.loads(hook.requests[-1][1])
    assert final["type"] == "job.succeeded" and final["data"]["outputs"] == outputs

    browser = Client()
    browser.force_login(operator_user)
    page = browser.get(job["links"]["ui"]).content.decode()
    assert "<dt>headline</dt><dd><code>eu: 41 rows</code></dd>" in page
    assert (
        f'<dd><a href="/jobs/{job["id"]}/artifacts/step:build.out.csv" download>step:build.out.csv</a></dd>'
        in page
    )


def test_a_recipe_declares_outputs_too(admin_client, run_tasks):
    recipe = {
        "steps": [{"id": "one", "type": "noop", "with": {"outputs": {"answer": 42}}}],
        "outputs": {"answer": "{{ steps.one.outputs.answer }}"},
    }
    job = admin_client.post(JOBS, {"recipe": recipe}, format="json").json()
    run_tasks()
    assert admin_client.get(job["links"]["self"]).json()["outputs"] == {"answer": 42}


def test_outputs_naming_an_unknown_step_or_output_are_refused(admin_client):
    recipe = {
        "steps": [{"id": "one", "type": "noop", "with": {"outputs": {"answer": 42}}}],
        "outputs": {
            "a": "{{ steps.two.outputs.x }}",
            "b": "{{ steps.one.outputs.question }}",
            "c": "artifact:nowhere/file.txt",
        },
    }
    response = admin_client.post(JOBS, {"recipe": recipe}, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "there is no step 'two'" in errors["recipe.outputs.a"][0]
    assert "unknown output 'question' of step 'one'" in errors["recipe.outputs.b"][0]
    assert "unknown step 'nowhere'" in errors["recipe.outputs.c"][0]


def test_a_job_without_declared_outputs_keeps_its_outputs_by_step(
    operator_client, workspace, greet, run_tasks
):
    job = create_job(workspace, template=greet)
    run_tasks()
    answer = operator_client.get(f"{JOBS}{job.pk}/").json()
    assert answer["outputs"]["hello"] == {"who": "world"}
