"""A job's input artifacts (SPEC Appendix A, "an inputs artifact map").

`inputs` maps a file name to an artifact of another job of the same workspace,
`"<job id>/<artifact name>"`. The file is shared, not copied: create_job gives the new job an
Artifact row (no step) pointing at the same stored file, which its steps find in
`$JOBSITE_INPUTS`. A reference to anything else is a 400 naming the input."""

import re
import uuid

from rest_framework import exceptions

from jobs.models import Artifact

INPUT_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,199}")


def resolve_inputs(workspace, inputs):
    """{name: (reference, Artifact)} or a ValidationError listing every bad input."""
    resolved, errors = {}, {}
    for name, reference in (inputs or {}).items():
        where = f"inputs.{name}"
        if not INPUT_NAME_RE.fullmatch(name):
            errors[where] = ["an input name is a file name: letters, digits, '.', '_' and '-'"]
            continue
        job_part, _, artifact_name = reference.partition("/")
        try:
            job_id = uuid.UUID(job_part)
        except ValueError:
            job_id = None
        artifact = None
        if job_id and artifact_name:
            artifact = Artifact.objects.filter(
                job__workspace=workspace, job_id=job_id, name=artifact_name
            ).first()
        if artifact is None:
            errors[where] = [
                'no such artifact: use "<job id>/<artifact name>" of a job of this workspace'
            ]
            continue
        resolved[name] = (reference, artifact)
    if errors:
        raise exceptions.ValidationError(errors)
    return resolved
