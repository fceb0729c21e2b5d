"""Migration jobs.0010 on a database written before secrets were encrypted: secret
values stored in clear (a job's variables and params, what its steps wrote, a webhook's
signing secret, a schedule's variables) end up sealed or masked, and still work."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from jobsite.secrets import unseal_json

BEFORE = [("jobs", "0009_merge_pools_notifications")]
TOKEN = "old-plain-token-123"
DEFINITION = {
    "slug": "old",
    "name": "Old",
    "variables": {
        "tok": {"type": "secret", "required": True},
        "who": {"type": "string", "required": False},
    },
    "steps": [
        {
            "id": "a",
            "type": "noop",
            "params": {"pw": {"type": "secret", "required": False}},
            "needs": [],
            "with": {},
        }
    ],
    "settings": {},
}


@pytest.mark.slow  # migrates the test database back and forth
@pytest.mark.django_db(transaction=True)
def test_plain_secrets_written_before_encryption_are_sealed_and_masked_by_the_migration():
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    before = [node for node in latest if node[0] != "jobs"] + BEFORE
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    workspace = old.get_model("jobsite", "Workspace").objects.create(slug="w", name="W")
    template = old.get_model("templates_app", "JobTemplate").objects.create(
        workspace=workspace, slug="old", name="Old"
    )
    version = old.get_model("templates_app", "TemplateVersion").objects.create(
        template=template, number=1, definition=DEFINITION, source=""
    )
    template.current_version = version
    template.save()
    job = old.get_model("jobs", "Job").objects.create(
        workspace=workspace, definition=DEFINITION, name="Old", variables={"tok": TOKEN, "who": "ann"},
        params={"a": {"pw": "old-plain-pw-456"}}, error=f"step a failed: saw {TOKEN}", result_markdown=f"# {TOKEN}",
    )  # fmt: skip
    old.get_model("jobs", "StepRun").objects.create(
        job=job, step_id="a", position=0, type="noop", outputs={"t": TOKEN}
    )
    old.get_model("jobs", "JobEvent").objects.create(
        job=job, seq=1, kind="log", message=f"token {TOKEN}"
    )
    old.get_model("jobs", "WebhookEndpoint").objects.create(
        workspace=workspace,
        url="https://example.com/h",
        secret="whsec_b2xkLXBsYWluLXNpZ25pbmctc2VjcmV0",
    )
    old.get_model("jobs", "Schedule").objects.create(
        workspace=workspace,
        template=template,
        cron="0 3 * * *",
        variables={"tok": TOKEN, "who": "bob"},
    )

    executor = MigrationExecutor(connection)
    executor.migrate(latest)
    with connection.cursor() as cursor:
        dump = []
        for table in (
            "jobs_job",
            "jobs_steprun",
            "jobs_jobevent",
            "jobs_webhookendpoint",
            "jobs_schedule",
        ):
            cursor.execute(f"SELECT * FROM {table}")
            dump += [" ".join(map(str, row)) for row in cursor.fetchall()]
    text = "\n".join(dump)
    assert (
        TOKEN not in text
        and "old-plain-pw-456" not in text
        and "b2xkLXBsYWluLXNpZ25pbmctc2VjcmV0" not in text
    )

    from jobs.models import Job, JobEvent, Schedule, StepRun, WebhookEndpoint

    job = Job.objects.get()
    assert job.variables == {"tok": "***", "who": "ann"} and job.params == {"a": {"pw": "***"}}
    assert job.unsealed_values() == (
        {"tok": TOKEN, "who": "ann"},
        {"a": {"pw": "old-plain-pw-456"}},
    )
    assert job.error == "step a failed: saw ***" and job.result_markdown == "# ***"
    assert StepRun.objects.get().outputs == {"t": "***"}
    assert JobEvent.objects.get().message == "token ***"
    assert WebhookEndpoint.objects.get().secret == "whsec_b2xkLXBsYWluLXNpZ25pbmctc2VjcmV0"
    schedule = Schedule.objects.get()
    assert schedule.variables == {"tok": "***", "who": "bob"}
    assert unseal_json(schedule.sealed_secrets) == {"variables": {"tok": TOKEN}}
