"""What `{{ ... }}` can see when a job's step runs (SPEC §3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobs.engine.states import StepStatus

if TYPE_CHECKING:
    from jobs.models import Job, StepRun


def substitution_context(
    job: Job,
    steps: list[StepRun],
    step_id: str | None = None,
    *,
    variables: dict | None = None,
    params: dict | None = None,
) -> dict:
    """vars, params (of `step_id`), steps.<id>.outputs of finished steps, job, workspace.

    `variables` and `params` default to the job's stored ones, in which secrets read
    "***"; the worker passes the unsealed ones for the step it runs."""
    variables = job.variables if variables is None else variables
    params = job.params if params is None else params
    return {
        "vars": variables,
        "params": (params or {}).get(step_id, {}) if step_id else {},
        "steps": {
            step.step_id: {"outputs": step.outputs or {}}
            for step in steps
            if step.status in (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.RETRYING)
            or step.outputs
        },
        "job": {"id": str(job.id), "name": job.name},
        "workspace": {"slug": job.workspace.slug},
    }
