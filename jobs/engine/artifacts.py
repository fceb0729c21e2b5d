"""Files in and out of steps, kept through Django's storage API.

A step's `JOBSITE_ARTIFACTS` directory is collected after it succeeds; each file becomes
an Artifact named `step:<step id>.<relative path>`, all of them or none: the job's
`max_artifacts_mb` and the workspace's `storage_quota_mb` (SPEC §13) are checked first. Before a step runs, the job's input
artifacts and the artifacts of the steps it needs are copied into its `JOBSITE_INPUTS`.
"""

import hashlib
import mimetypes
import shutil
from pathlib import Path

from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import Max, Sum

from jobs.engine.containment import job_storage_limits
from jobs.models import Artifact, Job, StepRun, Upload


def artifact_name(step_id: str, relative_path: str) -> str:
    return f"step:{step_id}.{relative_path}"


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


MB = 1024 * 1024


class ArtifactLimitExceeded(Exception):
    """A step's artifacts would pass the job's max_artifacts_mb or the workspace's
    storage_quota_mb; the message names the limit and its value."""


def workspace_stored_bytes(workspace_id: int) -> int:
    """Bytes of the files a workspace's artifacts, inputs and unexpired uploads hold. A
    file shared by several rows (a job input, a rerun's reused step, an upload a job
    used) is counted once."""
    artifacts = Artifact.objects.filter(job__workspace_id=workspace_id).order_by()
    per_file = artifacts.values("file").annotate(bytes=Max("size"))
    uploads = (
        Upload.objects.usable()
        .filter(workspace_id=workspace_id)
        .exclude(file__in=artifacts.values("file"))
    )
    return (per_file.aggregate(total=Sum("bytes"))["total"] or 0) + (
        uploads.aggregate(total=Sum("size"))["total"] or 0
    )


def check_storage_limits(job: Job, step: StepRun, files: dict[str, int]) -> None:
    """Raise ArtifactLimitExceeded when storing `files` ({artifact name: size}) would
    pass a limit. Files an earlier attempt of the step already stored are not counted
    twice (they are kept, not stored again)."""
    max_artifacts_mb, quota_mb = job_storage_limits(job)
    stored = dict(Artifact.objects.filter(job=job).exclude(step_id="").values_list("name", "size"))
    new_bytes = sum(size for name, size in files.items() if name not in stored)
    job_bytes = sum(stored.values()) + new_bytes
    if job_bytes > max_artifacts_mb * MB:
        raise ArtifactLimitExceeded(
            f"artifacts exceed max_artifacts_mb={max_artifacts_mb} for this job "
            f"(they would total {job_bytes / MB:.1f} MB); nothing of step {step.step_id} was stored"
        )
    if quota_mb is not None and new_bytes:
        total = workspace_stored_bytes(job.workspace_id) + new_bytes
        if total > quota_mb * MB:
            raise ArtifactLimitExceeded(
                f"artifacts exceed storage_quota_mb={quota_mb} for this workspace "
                f"(it would hold {total / MB:.1f} MB); nothing of step {step.step_id} was stored"
            )


def collect_step_artifacts(job: Job, step: StepRun, directory: Path) -> list[Artifact]:
    """Store every file of `directory` as an artifact of the step, all or none: over a
    limit (ArtifactLimitExceeded) or on any error nothing of this call stays stored."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    paths = sorted(p for p in directory.rglob("*") if p.is_file() and not p.is_symlink())
    if not paths:
        return []
    found = {
        artifact_name(step.step_id, path.relative_to(directory).as_posix()): path for path in paths
    }
    check_storage_limits(job, step, {name: path.stat().st_size for name, path in found.items()})
    saved = []
    try:
        for name, path in found.items():
            saved_one = _store(job, step, name, path.relative_to(directory).as_posix(), path)
            if saved_one is not None:
                saved.append(saved_one)
    except BaseException:
        for artifact in saved:
            artifact.delete()
            artifact.file.delete(save=False)
        raise
    return saved


def _store(job, step, name, relative, path):
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    artifact = Artifact(
        job=job, step_id=step.step_id, name=name, size=path.stat().st_size,
        sha256=_sha256(path), content_type=content_type,
    )  # fmt: skip
    with open(path, "rb") as handle:
        artifact.file.save(f"{step.step_id}/{relative}", File(handle), save=False)
    try:
        with transaction.atomic():
            artifact.save()
    except IntegrityError:
        # An earlier attempt of this step already stored it: keep that one.
        artifact.file.delete(save=False)
        return None
    except BaseException:
        artifact.file.delete(save=False)
        raise
    return artifact


def stage_step_inputs(job: Job, step: StepRun, directory: Path) -> Path:
    """Copy the job's inputs and the artifacts of the steps `step` needs into directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if not job.inputs and not step.needs:
        return directory  # nothing to stage: no job inputs, no upstream steps
    wanted = Artifact.objects.filter(job=job, step_id__in=["", *step.needs])
    for artifact in wanted:
        relative = artifact.name.split(".", 1)[1] if artifact.step_id else artifact.name
        target = directory / (f"{artifact.step_id}/{relative}" if artifact.step_id else relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        with artifact.file.open("rb") as source, open(target, "wb") as out:
            shutil.copyfileobj(source, out)
    return directory
