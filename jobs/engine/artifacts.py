"""Files in and out of steps, kept through Django's storage API.

A step's `JOBSITE_ARTIFACTS` directory is collected after it succeeds; each file becomes
an Artifact named `step:<step id>.<relative path>`. Before a step runs, the job's input
artifacts and the artifacts of the steps it needs are copied into its `JOBSITE_INPUTS`.
"""

import hashlib
import mimetypes
import shutil
from pathlib import Path

from django.core.files import File
from django.db import IntegrityError, transaction

from jobs.models import Artifact, Job, StepRun


def artifact_name(step_id: str, relative_path: str) -> str:
    return f"step:{step_id}.{relative_path}"


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def collect_step_artifacts(job: Job, step: StepRun, directory: Path) -> list[Artifact]:
    directory = Path(directory)
    if not directory.is_dir():
        return []
    saved = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and not p.is_symlink()):
        relative = path.relative_to(directory).as_posix()
        name = artifact_name(step.step_id, relative)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        artifact = Artifact(
            job=job, step_id=step.step_id, name=name, size=path.stat().st_size,
            sha256=_sha256(path), content_type=content_type,
        )
        with open(path, "rb") as handle:
            artifact.file.save(f"{step.step_id}/{relative}", File(handle), save=False)
        try:
            with transaction.atomic():
                artifact.save()
        except IntegrityError:
            # An earlier attempt of this step already stored it: keep that one.
            artifact.file.delete(save=False)
            continue
        saved.append(artifact)
    return saved


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
