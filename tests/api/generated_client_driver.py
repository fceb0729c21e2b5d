"""Drive a running jobsite with a client that openapi-python-client generated from its
schema, in strict mode, the way the seed workflows use the API.

Run by tests/api/test_generated_client.py under the generator's own virtualenv (not
collected by pytest: the generated package `jobsite_client` is only importable there).
Usage: python generated_client_driver.py BASE_URL API_KEY WORKSPACE_ID WORKSPACE_SLUG
Prints one JSON object: what each operation answered."""

import io
import json
import sys
import time

from jobsite_client import AuthenticatedClient, Client
from jobsite_client.api.jobs import (
    jobs_artifacts_download,
    jobs_artifacts_list,
    jobs_batch,
    jobs_cancel,
    jobs_create,
    jobs_events,
    jobs_list,
    jobs_logs,
    jobs_rerun,
    jobs_result,
    jobs_retrieve,
    jobs_run,
    jobs_status,
)
from jobsite_client.api.notifications import notifications_create, notifications_list
from jobsite_client.api.templates import (
    templates_create,
    templates_list,
    templates_retrieve,
    templates_schema,
    templates_trigger_key,
    templates_validate,
)
from jobsite_client.api.trigger_url import (
    hooks_job_logs,
    hooks_job_status,
    hooks_trigger_get,
    hooks_trigger_post,
)
from jobsite_client.api.uploads import uploads_create
from jobsite_client.api.workspace import workspace_retrieve
from jobsite_client.models import (
    HooksTriggerGetVariables,
    HooksTriggerPostJsonBody,
    Job,
    JobBatchRequest,
    JobCreateRequest,
    JobCreateRequestVariables,
    JobRerunRequest,
    JobResult,
    NotificationChannelWriteRequest,
    TemplateValidateRequest,
    TemplateValidateRequestVariables,
    TemplateWriteRequest,
    UploadsCreateFilesBody,
)
from jobsite_client.types import File

TERMINAL = {"succeeded", "failed", "partial", "canceled"}

# Seed 001's shape: a file goes in (a `file` variable), declared outputs come out.
SEED_001 = """
slug: count-rows
name: Count rows
variables:
  table: {type: file, required: true, accept: [text/csv]}
steps:
  - id: count
    type: shell
    with:
      script: |
        rows=$(( $(wc -l < "$JOBSITE_INPUTS/$VAR_TABLE") - 1 ))
        echo "rows=$rows" >> "$JOBSITE_OUTPUT"
        head -n 1 "$JOBSITE_INPUTS/$VAR_TABLE" > "$JOBSITE_ARTIFACTS/header.csv"
  - id: summary
    type: report
    needs: [count]
    with: {markdown: "{{ steps.count.outputs.rows }} rows"}
outputs:
  rows: "{{ steps.count.outputs.rows }}"
  header: "artifact:count/header.csv"
"""

SMALL_TEMPLATE = """
slug: client-made
name: Made by a generated client
steps:
  - id: hello
    type: noop
    with: {outputs: {greeting: hi}}
"""


def main(base_url: str, api_key: str, workspace_id: str, workspace_slug: str) -> None:
    client = AuthenticatedClient(
        base_url=base_url, token=api_key, raise_on_unexpected_status=True, timeout=30
    )
    # result/ answers markdown unless asked for JSON (the schema's first, parsed variant).
    json_client = client.with_headers({"Accept": "application/json"})
    seen: dict = {"operations": []}

    def did(name: str, response) -> object:
        seen["operations"].append(f"{name} {int(response.status_code)}")
        return response.parsed

    ws = {"x_workspace_id": workspace_id}
    workspace = did("workspace_retrieve", workspace_retrieve.sync_detailed(client=client, **ws))
    seen["workspace_slug"] = workspace.slug
    listed = did(
        "templates_list",
        templates_list.sync_detailed(client=client, x_workspace_slug=workspace_slug),
    )
    seen["templates"] = sorted(template.slug for template in listed.results)
    template = did(
        "templates_retrieve", templates_retrieve.sync_detailed("orders-export", client=client, **ws)
    )
    seen["template_version"] = template.version
    schema = did(
        "templates_schema", templates_schema.sync_detailed("orders-export", client=client, **ws)
    )
    seen["schema_has_days"] = "days" in schema.variables.to_dict().get("properties", {})
    variables = TemplateValidateRequestVariables.from_dict({"days": "zero", "region": "us"})
    checked = did(
        "templates_validate",
        templates_validate.sync_detailed(
            "orders-export", client=client, body=TemplateValidateRequest(variables=variables), **ws
        ),
    )
    seen["validate_valid"] = checked.valid
    made = did(
        "templates_create",
        templates_create.sync_detailed(
            client=client, body=TemplateWriteRequest(source=SMALL_TEMPLATE), **ws
        ),
    )
    seen["created_template"] = made.slug

    body = JobCreateRequest(
        template="orders-export",
        variables=JobCreateRequestVariables.from_dict({"days": 3, "region": "us"}),
        name="client run",
    )
    job = did("jobs_create", jobs_create.sync_detailed(client=client, body=body, **ws))
    assert isinstance(job, Job), job
    status = None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        status = jobs_status.sync_detailed(job.id, client=client, **ws)
        if status.parsed.status.value in TERMINAL:
            break
        time.sleep(0.3)
    did("jobs_status", status)
    seen["status"] = status.parsed.status.value
    full = did("jobs_retrieve", jobs_retrieve.sync_detailed(job.id, client=client, **ws))
    seen["progress"] = full.progress.to_dict()
    events = did(
        "jobs_events", jobs_events.sync_detailed(job.id, client=client, after=0, limit=5, **ws)
    )
    seen["events"] = len(events.events)
    logs = did("jobs_logs", jobs_logs.sync_detailed(job.id, client=client, **ws))
    seen["log_has_export"] = "exporting 3 days" in logs
    result = did("jobs_result", jobs_result.sync_detailed(job.id, client=json_client, **ws))
    assert isinstance(result, JobResult), result
    seen["result_markdown_head"] = result.markdown.splitlines()[0]
    artifacts = did(
        "jobs_artifacts_list", jobs_artifacts_list.sync_detailed(job.id, client=client, **ws)
    )
    names = [artifact.name for artifact in artifacts.results]
    seen["artifacts"] = names
    download = did(
        "jobs_artifacts_download",
        jobs_artifacts_download.sync_detailed(job.id, names[0], client=client, **ws),
    )
    assert isinstance(download, File), download
    seen["artifact_first_line"] = download.payload.read().decode().splitlines()[0]

    draft = did(
        "jobs_create(draft)",
        jobs_create.sync_detailed(
            client=client, body=JobCreateRequest(template="orders-export", start=False), **ws
        ),
    )
    seen["draft_status"] = draft.status.value
    started = did("jobs_run", jobs_run.sync_detailed(draft.id, client=client, **ws))
    seen["run_status"] = started.status.value
    canceled = did("jobs_cancel", jobs_cancel.sync_detailed(draft.id, client=client, **ws))
    seen["cancel_status"] = canceled.status.value
    rerun = did(
        "jobs_rerun", jobs_rerun.sync_detailed(job.id, client=client, body=JobRerunRequest(), **ws)
    )
    seen["rerun_original"] = str(rerun.original_job_id) == str(job.id)
    page = did("jobs_list", jobs_list.sync_detailed(client=client, **ws))
    seen["listed_jobs"] = len(page.results)

    trigger = did(
        "templates_trigger_key",
        templates_trigger_key.sync_detailed("orders-export", client=client, **ws),
    )
    hooks = Client(base_url=base_url, raise_on_unexpected_status=True, timeout=30)
    triggered = did(
        "hooks_trigger_get",
        hooks_trigger_get.sync_detailed(
            workspace_slug,
            "orders-export",
            client=hooks,
            key=trigger.key,
            variables=HooksTriggerGetVariables.from_dict({"days": "2", "region": "apac"}),
        ),
    )
    triggered_id = triggered.strip()
    triggered_job = jobs_retrieve.sync_detailed(triggered_id, client=client, **ws).parsed
    seen["triggered_variables"] = {
        k: v for k, v in triggered_job.variables.to_dict().items() if k != "api_token"
    }
    word = did(
        "hooks_job_status",
        hooks_job_status.sync_detailed(
            workspace_slug, "orders-export", triggered_id, client=hooks, x_trigger_key=trigger.key
        ),
    )
    seen["hook_status_word"] = word.strip()
    did(
        "hooks_job_logs",
        hooks_job_logs.sync_detailed(
            workspace_slug, "orders-export", triggered_id, client=hooks, x_trigger_key=trigger.key
        ),
    )
    posted = did(
        "hooks_trigger_post",
        hooks_trigger_post.sync_detailed(
            workspace_slug,
            "orders-export",
            client=hooks,
            x_trigger_key=trigger.key,
            body=HooksTriggerPostJsonBody.from_dict({"days": 4}),
        ),
    )
    seen["posted_job"] = bool(posted.strip())

    # Seed 001: upload a real file, start a template whose file variable takes it, read
    # the declared outputs from the job, result/ JSON and the artifacts.
    walk = seen["seed_001"] = {}
    did(
        "templates_create(seed 001)",
        templates_create.sync_detailed(
            client=client, body=TemplateWriteRequest(source=SEED_001), **ws
        ),
    )
    table = File(
        payload=io.BytesIO(b"region,orders\neu,12\nus,30\napac,7\n"),
        file_name="orders.csv",
        mime_type="text/csv",
    )
    upload = did(
        "uploads_create",
        uploads_create.sync_detailed(client=client, body=UploadsCreateFilesBody(file=table), **ws),
    )
    walk["upload"] = upload.to_dict()
    body = JobCreateRequest(
        template="count-rows",
        variables=JobCreateRequestVariables.from_dict({"table": str(upload.id)}),
    )
    job = did("jobs_create(seed 001)", jobs_create.sync_detailed(client=client, body=body, **ws))
    walk["created"] = {
        "status": job.status.value,
        "variables": job.variables.to_dict(),
        "inputs": job.inputs.to_dict(),
        "artifacts": [a.name for a in job.artifacts],
    }
    deadline = time.monotonic() + 90
    while (
        time.monotonic() < deadline
        and jobs_status.sync(job.id, client=client, **ws).status.value not in TERMINAL
    ):
        time.sleep(0.3)
    done = jobs_retrieve.sync(job.id, client=client, **ws)
    walk["finished"] = {
        "status": done.status.value,
        "progress": done.progress.to_dict(),
        "outputs": done.outputs.to_dict(),
        "artifacts": [a.name for a in done.artifacts],
    }
    walk["result"] = jobs_result.sync(job.id, client=json_client, **ws).to_dict()
    header = jobs_artifacts_download.sync(job.id, "step:count.header.csv", client=client, **ws)
    walk["header_csv"] = header.payload.read().decode()
    raw = File(payload=io.BytesIO(b"a,b\n1,2\n"), file_name="raw.csv", mime_type="text/csv")
    raw_upload = did(
        "uploads_create(raw body)",
        uploads_create.sync_detailed(client=client, body=raw, name="raw.csv", **ws),
    )
    walk["raw_upload_name"] = raw_upload.name

    batch = JobBatchRequest(
        jobs=[
            JobCreateRequest(
                template="count-rows",
                variables=JobCreateRequestVariables.from_dict({"table": str(upload.id)}),
            ),
            JobCreateRequest(template="orders-export", start=False),
        ]
    )
    made = did(
        "jobs_batch",
        jobs_batch.sync_detailed(client=client, body=batch, idempotency_key="driver-batch-1", **ws),
    )
    seen["batch_statuses"] = [one.status.value for one in made.jobs]
    channel = NotificationChannelWriteRequest.from_dict(
        {"kind": "email", "name": "Ops", "target": "ops@example.test", "events": ["job.failed"]}
    )
    did(
        "notifications_create",
        notifications_create.sync_detailed(client=client, body=channel, **ws),
    )
    seen["channels"] = len(
        did("notifications_list", notifications_list.sync_detailed(client=client, **ws)).results
    )
    print(json.dumps(seen, default=str))


if __name__ == "__main__":
    main(*sys.argv[1:5])
