"""Schemathesis against a live server (issue 4, item 7): every operation of the OpenAPI
schema, valid and invalid input, with the keys of two workspaces.

Run by `make test-fuzz` (marker `fuzz`): 0 server errors, 0 responses that violate the
schema, 0 invalid requests accepted. Bounded: a few examples per operation and a time
budget per workspace."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.base import ContentFile

from jobs.models import Artifact
from jobs.models.automation import Schedule, WebhookDelivery, WebhookEndpoint
from jobs.services import create_job
from jobsite.models import ApiKey, Role, Workspace, hash_key
from templates_app.models import JobTemplate
from tests.api.conftest import FLAKY, GREET
from tests.jobs.helpers import make_template

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db(transaction=True)]

MAX_EXAMPLES = int(os.environ.get("JOBSITE_FUZZ_EXAMPLES", "15"))
MAX_SECONDS = int(os.environ.get("JOBSITE_FUZZ_SECONDS", "120"))
# Revoking keys by guessed id would revoke the very key the fuzzer runs with; revocation
# is covered by tests/api/test_keys_api.py and the isolation matrix.
EXCLUDED_OPERATIONS = ["keys_revoke"]
ARTIFACT = "step:hello.hello.txt"


def schemathesis_binary():
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which(
        "schemathesis"
    )
    if not found:
        pytest.skip("schemathesis is not installed (pip install -e '.[fuzz]')")
    return found


def seed(slug):
    """A workspace with templates, a draft, a queued job with an artifact, a trigger key,
    a webhook endpoint with a delivery, a schedule and an admin key."""
    workspace = Workspace.objects.create(slug=slug, name=slug.title())
    greet = make_template(workspace, GREET)
    flaky = make_template(workspace, FLAKY)
    draft = create_job(workspace, template=greet, start=False)
    queued = create_job(workspace, template=greet)
    artifact = Artifact(
        job=queued,
        step_id="hello",
        name=ARTIFACT,
        size=5,
        sha256="0" * 64,
        content_type="text/plain",
    )
    artifact.file.save("hello.txt", ContentFile(b"hello"), save=True)
    trigger_key = "jtk_fuzz_" + slug
    JobTemplate.objects.filter(pk=greet.pk).update(trigger_key_hash=hash_key(trigger_key))
    _, raw = ApiKey.issue(workspace, f"{slug}-fuzz", role=Role.ADMIN)
    # Nothing listens there: a redelivery the fuzzer asks for is only queued.
    endpoint = WebhookEndpoint.objects.create(
        workspace=workspace, url="http://127.0.0.1:9/hook", template=greet
    )
    delivery = WebhookDelivery.objects.create(
        workspace=workspace,
        endpoint=endpoint,
        job=queued,
        url=endpoint.url,
        event="job.queued",
        payload={},
    )
    schedule = Schedule.objects.create(
        workspace=workspace, template=greet, cron="0 3 * * *", variables={"who": "fuzz"}
    )
    return {
        "workspace": workspace,
        "key": raw,
        "trigger_key": trigger_key,
        "jobs": [str(draft.pk), str(queued.pk)],
        "templates": ["greet", "flaky", str(greet.pk), str(flaky.pk)],
        "webhooks": [str(endpoint.pk)],
        "deliveries": [str(delivery.pk)],
        "schedules": [str(schedule.pk)],
    }


def write_config(path, seeds):
    """Real identifiers of both workspaces for the fuzzer to mix into what it generates,
    so that it reaches real objects (its own and the other workspace's), not only 404s."""

    def values(items):
        return "[" + ", ".join(f'"{item}"' for item in items) + "]"

    everything = {
        "jobs": [job for seed_ in seeds for job in seed_["jobs"]],
        "templates": [ref for seed_ in seeds for ref in seed_["templates"]],
        "workspaces": [seed_["workspace"].slug for seed_ in seeds],
        "slugs": ["greet", "flaky"],
        "artifacts": [ARTIFACT],
        "trigger_keys": [seed_["trigger_key"] for seed_ in seeds],
        "webhooks": [webhook for seed_ in seeds for webhook in seed_["webhooks"]],
        "deliveries": [delivery for seed_ in seeds for delivery in seed_["deliveries"]],
        "schedules": [schedule for seed_ in seeds for schedule in seed_["schedules"]],
    }
    lines = []
    for name, items in everything.items():
        lines += [f"[dictionaries.{name}]", f"values = {values(items)}", ""]
    lines += [
        "[parameters]",
        '"path.job_id" = { dictionary = "jobs", probability = 0.6 }',
        '"path.template_ref" = { dictionary = "templates", probability = 0.6 }',
        '"path.workspace_slug" = { dictionary = "workspaces", probability = 0.6 }',
        '"path.template_slug" = { dictionary = "slugs", probability = 0.6 }',
        '"path.name" = { dictionary = "artifacts", probability = 0.6 }',
        '"query.key" = { dictionary = "trigger_keys", probability = 0.6 }',
        '"query.template" = { dictionary = "templates", probability = 0.5 }',
        '"body.template" = { dictionary = "templates", probability = 0.6 }',
        '"path.webhook_id" = { dictionary = "webhooks", probability = 0.6 }',
        '"path.delivery_id" = { dictionary = "deliveries", probability = 0.6 }',
        '"path.schedule_id" = { dictionary = "schedules", probability = 0.6 }',
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_schemathesis(base_url, workspace, raw_key, seed_number, config):
    command = [
        schemathesis_binary(),
        "--config-file",
        str(config),
        "run",
        f"{base_url}/api/schema/",
        "--url",
        base_url,
        "-H",
        f"Authorization: Bearer {raw_key}",
        "-H",
        f"X-Workspace-Slug: {workspace.slug}",
        "-H",
        f"X-Workspace-Id: {workspace.pk}",
        "--checks",
        "all",
        # Positive data the schema cannot express as invalid (an unknown template slug, a
        # cursor we never gave out) is rightly refused; that check would count it.
        "--exclude-checks",
        "positive_data_acceptance",
        "--mode",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--max-time",
        str(MAX_SECONDS),
        "--seed",
        str(seed_number),
        "--workers",
        "2",
        "--request-timeout",
        "30",
        "--no-color",
    ]
    for operation in EXCLUDED_OPERATIONS:
        command += ["--exclude-operation-id", operation]
    result = subprocess.run(command, capture_output=True, text=True, timeout=MAX_SECONDS * 3)
    return result.returncode, result.stdout + result.stderr


def test_schemathesis_finds_no_server_error_no_schema_violation_and_no_accepted_invalid_input(
    live_server, settings, tmp_path
):
    settings.JOBSITE_API_RATE_LIMIT = "1000000/minute"
    settings.JOBSITE_API_BAD_KEY_LIMIT = "1000000/minute"
    # A followed log of a job no worker runs would hold its connection for minutes.
    settings.JOBSITE_API_LOG_FOLLOW_SECONDS = 2
    seeds = [seed("fuzz-one"), seed("fuzz-two")]
    config = write_config(tmp_path / "schemathesis.toml", seeds)
    failures = []
    for number, seed_ in enumerate(seeds, start=1):
        workspace = seed_["workspace"]
        code, output = run_schemathesis(live_server.url, workspace, seed_["key"], number, config)
        summary = output[output.find("SUMMARY") :] if "SUMMARY" in output else output[-3000:]
        print(f"\n===== schemathesis, workspace {workspace.slug} =====\n{summary}")
        cases = re.search(r"(\d+) generated", output)
        assert cases and int(cases.group(1)) > 0, output[-3000:]
        if code != 0:
            failures.append(output)
    assert not failures, "\n\n".join(failure[-20000:] for failure in failures)
