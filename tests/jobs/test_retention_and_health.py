from datetime import timedelta

from django.core.files.storage import default_storage
from django.utils import timezone

from jobs.automation.retention import prune_workspace, purge_secrets
from jobs.models import Artifact, Job, JobEvent
from jobs.services import create_job
from jobs.worker.hosts import beat
from tests.jobs.helpers import make_template

ARTIFACT = """
slug: artifact
name: Artifact
steps:
  - id: make
    type: shell
    with: {script: "echo hi > $JOBSITE_ARTIFACTS/out.txt"}
"""


def test_retention_deletes_old_finished_jobs_with_their_events_and_files_and_nothing_else(
    workspace, other_workspace, run_tasks
):
    template = make_template(workspace, ARTIFACT)
    old, recent = create_job(workspace, template=template), create_job(workspace, template=template)
    outsider = create_job(other_workspace, template=make_template(other_workspace, ARTIFACT))
    run_tasks()
    long_ago = timezone.now() - timedelta(days=40)
    Job.objects.filter(pk__in=[old.pk, outsider.pk]).update(finished_at=long_ago)
    old_file = Artifact.objects.get(job=old).file.name
    assert default_storage.exists(old_file)
    workspace.retention_days = 30
    workspace.save()
    assert prune_workspace(workspace) == 1
    assert not Job.objects.filter(pk=old.pk).exists()
    assert not JobEvent.objects.filter(job_id=old.pk).exists()
    assert not default_storage.exists(old_file)
    assert Job.objects.filter(pk=recent.pk).exists()
    assert Job.objects.filter(pk=outsider.pk).exists()  # another workspace, no retention set


def test_readyz_reports_each_dependency_and_wants_a_recent_worker(client, db):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "ok"
    assert "no worker host seen" in response.json()["checks"]["workers"]
    beat("host-1")
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert client.get("/healthz").json() == {"status": "ok"}


SECRET = """
slug: secret
name: Secret
variables:
  tok: {type: secret, required: true}
steps:
  - {id: a, type: noop}
"""


def test_the_secrets_of_a_job_finished_long_ago_are_erased_and_the_rest_kept(
    workspace, run_tasks, settings
):
    settings.JOBSITE_SECRET_RETENTION_DAYS = 7
    template = make_template(workspace, SECRET)
    old, recent = (
        create_job(workspace, template=template, variables={"tok": "tok-value-1"}) for _ in range(2)
    )
    run_tasks()
    Job.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=8))
    assert purge_secrets() == 1
    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.sealed_secrets == "" and old.unsealed_values()[0] == {"tok": None}
    assert old.status == "succeeded" and old.variables == {"tok": "***"}  # the job itself stays
    assert recent.unsealed_values()[0] == {"tok": "tok-value-1"}
