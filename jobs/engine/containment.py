"""What a job's steps run within (SPEC §13): the sandbox policy of a step and the
storage limits its artifacts are checked against.

The numbers come from the workspace (staff only), the template's `settings.limits`
and the server caps, combined by templates_app.policy.
"""

from jobs.executors.sandbox import SandboxPolicy, StepLimits
from jobs.models import Job
from jobsite.models import Workspace
from templates_app.definition.limits import STEP_LIMIT_KEYS
from templates_app.policy import effective_limits

CONTAINMENT_FIELDS = (
    "step_network", "allowed_step_types", "cpu_seconds", "memory_mb", "max_file_mb", "max_processes",
    "max_artifacts_mb", "storage_quota_mb",
)  # fmt: skip


def job_workspace(job: Job) -> Workspace:
    """The job's workspace with its containment settings, read now (staff may have
    changed them since the job was created)."""
    return Workspace.objects.only(*CONTAINMENT_FIELDS).get(pk=job.workspace_id)


def step_sandbox_policy(job: Job, workspace: Workspace | None = None) -> SandboxPolicy:
    workspace = workspace or job_workspace(job)
    limits = effective_limits(workspace, job.definition)
    return SandboxPolicy(
        network=workspace.step_network,
        limits=StepLimits(**{key: limits[key] for key in STEP_LIMIT_KEYS}),
    )


def job_storage_limits(job: Job, workspace: Workspace | None = None) -> tuple[int, int | None]:
    """(max_artifacts_mb of this job, the workspace's storage_quota_mb or None)."""
    workspace = workspace or job_workspace(job)
    return effective_limits(workspace, job.definition)[
        "max_artifacts_mb"
    ], workspace.storage_quota_mb
