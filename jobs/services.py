"""The verbs of jobsite. API views, pages, admin actions, the trigger URL and commands
all call these; none of them assigns a status itself."""

from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from jobs.engine.lifecycle import cancel_locked_job, start_locked_job, steps_of
from jobs.engine.new_jobs import NewJob, save_new_jobs, shared_artifact
from jobs.engine.queue import DEFAULT_POOL
from jobs.engine.states import JOB_CAN_RERUN, JOB_TERMINAL, JobStatus, StepStatus
from jobs.engine.transitions import (
    TransitionRefused,
    change_step_status,
    locked_job,
    new_job_section,
)
from jobs.models import Artifact, Job, StepRun, Trigger
from jobs.uploads import file_variable_names, resolve_file_variables
from jobsite.models import Workspace
from jobsite.named_inserts import new_instance
from templates_app.definition import (
    DefinitionError,
    check_job_input,
    load_definition,
)
from templates_app.models import JobTemplate
from templates_app.policy import definition_rules, forbidden_steps_problem


class JobValidationError(Exception):
    """Bad input for a job: `errors` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]], detail: str = "Invalid job request.") -> None:
        super().__init__(detail)
        self.errors = errors
        self.detail = detail


def validate_job_input(
    definition: dict, variables: dict | None = None, params: dict | None = None
) -> tuple[dict, dict]:
    """Validate and coerce submitted variables and per-step params against a definition.
    Returns (variables, params); raises JobValidationError with one entry per field."""
    clean_vars, clean_params, errors = check_job_input(definition, variables or {}, params or {})
    if errors:
        raise JobValidationError(errors)
    return clean_vars, clean_params


def _with_uploaded_files(workspace, definition, variables, input_files, inputs, kept=None):
    """Variables, input files and inputs with the uploads that `file` variables name
    added as inputs (jobs/uploads.py); JobValidationError for a bad upload id."""
    if not file_variable_names(definition):
        return variables, input_files, inputs
    clean, files, named = resolve_file_variables(
        workspace, definition, variables or {}, taken=set(inputs or {}), kept=kept
    )
    if clean is None:
        raise JobValidationError(named)
    return clean, {**(input_files or {}), **files}, {**(inputs or {}), **named}


def _steps_for(job, definition):
    template_pool = (definition.get("settings") or {}).get("runs_on")
    workspace_pool = job.workspace.default_pool
    return [
        new_instance(
            StepRun,
            job=job,
            step_id=spec["id"],
            position=index,
            type=spec["type"],
            needs=list(spec.get("needs", [])),
            max_attempts=1 + int(spec.get("retries", 0)),
            idempotent=bool(spec.get("idempotent", False)),
            continue_on_failure=bool(spec.get("continue_on_failure", False)),
            timeout_seconds=spec.get("timeout"),
            pool=spec.get("runs_on") or template_pool or workspace_pool or DEFAULT_POOL,
        )
        for index, spec in enumerate(definition["steps"])
    ]


def prepare_job(
    workspace: Workspace,
    *,
    template: JobTemplate | None = None,
    recipe: dict | None = None,
    variables: dict | None = None,
    params: dict | None = None,
    inputs: dict | None = None,
    name: str = "",
    start: bool = True,
    trigger: str = Trigger.API,
    created_by: str = "",
    callback_url: str = "",
    job_id: UUID | None = None,
    input_files: dict[str, Artifact] | None = None,
) -> NewJob:
    """A job checked and built in memory, nothing written: what create_job and
    create_jobs write. Raises JobValidationError for bad input. The arguments are
    create_job's."""
    if (template is None) == (recipe is None):
        raise JobValidationError({"template": ["give either a template or a recipe"]})
    version = None
    if template is not None:
        version = template.current_version
        definition = version.definition
    else:
        try:
            definition = load_definition(recipe, recipe=True, rules=definition_rules(workspace))
        except DefinitionError as exc:
            raise JobValidationError(
                {f"recipe.{key}": value for key, value in exc.errors.items()}
            ) from None
    forbidden = forbidden_steps_problem(workspace, definition)
    if forbidden:
        # Staff forbade a type after the template was saved: no new job of it starts
        # (jobs created before keep running).
        raise JobValidationError({"template": [forbidden]})
    variables, params = validate_job_input(definition, variables, params)
    variables, input_files, inputs = _with_uploaded_files(
        workspace, definition, variables, input_files, inputs
    )
    job = new_instance(
        Job,
        **({"id": job_id} if job_id else {}),
        workspace=workspace,
        template=template,
        template_version=version,
        definition=definition,
        name=(name or definition.get("name") or "Job")[:200],
        type=definition.get("type", ""),
        trigger=trigger,
        created_by=created_by,
        inputs=inputs or {},
        callback_url=callback_url or "",
        total_steps=len(definition["steps"]),
        timeout_seconds=definition.get("settings", {}).get("timeout"),
        attempt=1,
    )
    # Secrets are sealed (encrypted) and masked before the row exists (jobsite/secrets.py).
    job.set_values(variables, params)
    job.step_runs = _steps_for(job, definition)
    return NewJob(job, start=start, input_files=input_files or {})


def create_job(workspace: Workspace, **arguments: Any) -> Job:
    """Create a job from a template (its current version) or an inline recipe, as a
    draft or started at once. Raises JobValidationError for bad input; nothing is
    created then.

    Arguments (prepare_job's): template or recipe, variables, params, inputs, name,
    start, trigger, created_by, callback_url, job_id, input_files.

    `input_files` maps input names to existing artifacts (of jobs of the workspace):
    the new job gets its own Artifact rows for them, sharing the stored files.

    `job_id` lets a caller choose the new job's id in advance: the web UI's start forms
    carry one per render, so a double submit collides on the primary key and makes one
    job."""
    return create_jobs([prepare_job(workspace, **arguments)])[0]


def create_jobs(new_jobs: list[NewJob]) -> list[Job]:
    """Write jobs made by prepare_job, all or none, in one transaction whose number of
    statements does not grow with how many (jobs/engine/new_jobs.py). The checks of
    prepare_job only read; the transaction — on SQLite, the database's one write lock —
    starts here, so the workers' claims and finishes wait less for it."""
    return save_new_jobs(new_jobs)


def share_artifact(artifact: Artifact, job: Job, *, step_id: str, name: str) -> Artifact:
    """A new Artifact row of `job` pointing at `artifact`'s stored file (not a copy)."""
    shared = shared_artifact(artifact, job, step_id=step_id, name=name)
    shared.save(force_insert=True)
    return shared


def start_job(job: Job) -> Job:
    """draft → queued; ready steps are queued and handed to the workers."""
    with locked_job(job.pk, engine=True) as locked:
        if locked.status != JobStatus.DRAFT:
            raise TransitionRefused(f"job is {locked.status}; only a draft can be started")
        start_locked_job(locked)
    return locked


def cancel_job(job: Job, *, force: bool = False) -> Job:
    """Cancel a job. Refused (TransitionRefused) when it has already finished."""
    with locked_job(job.pk, engine=True) as locked:
        if locked.status in JOB_TERMINAL:
            raise TransitionRefused(f"job is already {locked.status}")
        cancel_locked_job(locked, force=force)
    return locked


@transaction.atomic
def rerun_job(
    job: Job,
    *,
    variables: dict | None = None,
    from_failed: bool = False,
    from_step: str | None = None,
    trigger: str = Trigger.RERUN,
    created_by: str = "",
    job_id: UUID | None = None,
) -> Job:
    """A new job from the same definition and variables (optionally overridden).

    With from_failed, steps that succeeded in `job` are carried over — their outputs and
    artifacts reused — and only the rest run again. With from_step, that step and every
    step downstream of it run again; the others that succeeded are carried over.
    `job_id`: as for create_job."""
    if job.status not in JOB_CAN_RERUN:
        raise TransitionRefused(f"job is {job.status}; only a finished job can be rerun")
    rerun_ids = None
    if from_step is not None:
        rerun_ids = downstream_of(job.definition, from_step)
        if rerun_ids is None:
            raise JobValidationError(
                {"from": [f'no step "{from_step}" in this job; use "start", "failed" or a step id']}
            )
    # The old job's secrets are decrypted only to be sealed again for the new one.
    old_variables, old_params = job.unsealed_values()
    merged = dict(old_variables)
    if variables:
        merged.update(variables)
    clean_vars, clean_params = validate_job_input(job.definition, merged, old_params)
    # The old job's inputs come along (shared files); a file variable given a new upload
    # id adds that upload as an input.
    replaced = {
        job.variables[name] for name in file_variable_names(job.definition)
        if job.variables.get(name) and clean_vars.get(name) != job.variables[name]
    }  # fmt: skip
    old_inputs = {a.name: a for a in job.artifacts.filter(step_id="") if a.name not in replaced}
    kept_inputs = {name: ref for name, ref in (job.inputs or {}).items() if name not in replaced}
    clean_vars, input_files, inputs = _with_uploaded_files(
        job.workspace, job.definition, clean_vars, old_inputs, kept_inputs, kept=job.variables
    )
    new = Job(
        **({"id": job_id} if job_id else {}),
        workspace=job.workspace,
        template=job.template,
        template_version=job.template_version,
        definition=job.definition,
        name=job.name,
        type=job.type,
        trigger=trigger,
        created_by=created_by,
        inputs=inputs,
        callback_url=job.callback_url,
        total_steps=job.total_steps,
        timeout_seconds=job.timeout_seconds,
        original_job=job,
        attempt=job.attempt + 1,
    )
    new.set_values(clean_vars, clean_params)
    new.save(force_insert=True)
    steps = StepRun.objects.bulk_create(_steps_for(new, job.definition))
    for name, artifact in input_files.items():
        share_artifact(artifact, new, step_id="", name=name)
    with new_job_section(new, steps):
        if from_failed or rerun_ids is not None:
            _reuse_succeeded_steps(job, new, rerun=rerun_ids or set())
        start_locked_job(new)
    new.refresh_from_db()
    return new


def downstream_of(definition: dict, step_id: str) -> set[str] | None:
    """`step_id` and every step that needs it, directly or not; None when there is no
    such step."""
    specs = definition.get("steps", [])
    if step_id not in {spec["id"] for spec in specs}:
        return None
    found = {step_id}
    changed = True
    while changed:
        changed = False
        for spec in specs:
            if spec["id"] not in found and found & set(spec.get("needs", [])):
                found.add(spec["id"])
                changed = True
    return found


def _reuse_succeeded_steps(old_job, new_job, rerun=frozenset()):
    old_steps = {step.step_id: step for step in old_job.steps.filter(status=StepStatus.SUCCEEDED)}
    now = timezone.now()
    for step in steps_of(new_job):
        previous = old_steps.get(step.step_id)
        if previous is None or step.step_id in rerun:
            continue
        change_step_status(
            new_job,
            step,
            StepStatus.SUCCEEDED,
            message=f"Step {step.step_id} reused from job {old_job.pk}",
            outputs=previous.outputs,
            started_at=previous.started_at,
            finished_at=previous.finished_at or now,
            reused_from=previous,
            progress=100.0,
        )
        for artifact in Artifact.objects.filter(job=old_job, step_id=step.step_id):
            share_artifact(artifact, new_job, step_id=artifact.step_id, name=artifact.name)
