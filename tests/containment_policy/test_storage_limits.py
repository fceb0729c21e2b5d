"""max_artifacts_mb per job and storage_quota_mb per workspace, enforced when a real
shell step's artifacts are collected (SPEC §13, issue 11 item 4)."""

from jobs.models import Artifact
from jobs.services import create_job
from tests.jobs.helpers import make_template

WRITER = """
slug: writer-{mb}
name: Writer
steps:
  - id: small
    type: shell
    with:
      script: echo hello > "$JOBSITE_ARTIFACTS/small.txt"
  - id: big
    type: shell
    needs: [small]
    with:
      script: |
        echo "note" > "$JOBSITE_ARTIFACTS/a-note.txt"
        head -c {mb}M /dev/zero > "$JOBSITE_ARTIFACTS/big.bin"
{settings}
"""


def writer(workspace, mb, settings=""):
    return make_template(workspace, WRITER.format(mb=mb, settings=settings))


def stored_files(job):
    return sorted(Artifact.objects.filter(job=job).values_list("name", flat=True))


def test_a_step_writing_more_than_max_artifacts_mb_fails_naming_the_limit_and_stores_nothing(
    workspace, run_tasks, tmp_path, settings
):
    settings.MEDIA_ROOT = tmp_path / "media"
    workspace.max_artifacts_mb = 5
    workspace.save(update_fields=["max_artifacts_mb"])
    job = create_job(workspace, template=writer(workspace, 6))
    run_tasks()
    job.refresh_from_db()
    big = job.steps.get(step_id="big")
    assert (job.status, big.status) == ("failed", "failed")
    assert big.error.startswith(
        "artifacts exceed max_artifacts_mb=5 for this job (they would total 6.0 MB)"
    )
    # The first step's artifact stays; nothing of the failed step is half-stored, in the
    # database or on disk.
    assert stored_files(job) == ["step:small.small.txt"]
    assert not list((tmp_path / "media").rglob("big.bin")) and not list(
        (tmp_path / "media").rglob("a-note.txt")
    )
    logs = " ".join(job.events.filter(step_id="big", kind="log").values_list("message", flat=True))
    assert "artifacts exceed max_artifacts_mb=5" in logs


def test_a_template_may_ask_for_a_lower_artifacts_limit(workspace, run_tasks, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    job = create_job(
        workspace, template=writer(workspace, 2, "settings:\n  limits: {max_artifacts_mb: 1}")
    )
    run_tasks()
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.steps.get(step_id="big").error.startswith(
        "artifacts exceed max_artifacts_mb=1 for this job"
    )


def test_within_the_limit_every_artifact_is_stored(workspace, run_tasks, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    workspace.max_artifacts_mb = 5
    workspace.save(update_fields=["max_artifacts_mb"])
    job = create_job(workspace, template=writer(workspace, 4))
    run_tasks()
    job.refresh_from_db()
    assert job.status == "succeeded"
    assert stored_files(job) == ["step:big.a-note.txt", "step:big.big.bin", "step:small.small.txt"]


def test_the_workspace_storage_quota_counts_earlier_jobs_and_fails_the_step_that_would_pass_it(
    workspace, other_workspace, run_tasks, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    workspace.storage_quota_mb = 5
    workspace.save(update_fields=["storage_quota_mb"])
    # Another workspace's files do not count against this one.
    other = create_job(other_workspace, template=writer(other_workspace, 4))
    first = create_job(workspace, template=writer(workspace, 3))
    run_tasks()
    first.refresh_from_db()
    other.refresh_from_db()
    assert (first.status, other.status) == ("succeeded", "succeeded")
    second = create_job(workspace, template=writer(workspace, 3))
    run_tasks()
    second.refresh_from_db()
    big = second.steps.get(step_id="big")
    assert second.status == "failed"
    assert big.error.startswith(
        "artifacts exceed storage_quota_mb=5 for this workspace (it would hold 6.0 MB)"
    )
    assert stored_files(second) == ["step:small.small.txt"]
