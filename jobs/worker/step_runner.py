"""The worker entry point: run one attempt of one step.

`run_step(step_run_id, attempt)` is the django-q2 task. It claims the step, runs its
executor with a heartbeat beside it, and hands the outcome to the engine. It never
changes status itself.
"""

import json
import logging
import os
import shutil
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections

from jobs.engine import pools
from jobs.engine.artifacts import ArtifactLimitExceeded, collect_step_artifacts, stage_step_inputs
from jobs.engine.containment import step_sandbox_policy
from jobs.engine.lifecycle import step_definition, steps_of
from jobs.engine.pools import host_pools
from jobs.engine.queue import DEFAULT_POOL, enqueue_step
from jobs.engine.steps import EagerClaim, claim_oldest_queued_step, claim_step, finish_step
from jobs.engine.substitution import substitution_context
from jobs.executors.base import Executor, Outcome, StepContext
from jobs.executors.registry import get_executor
from jobs.models import Job, StepRun
from jobs.worker.heartbeat import heartbeats
from jobs.worker.hosts import is_draining
from jobs.worker.step_logs import StepLogWriter
from templates_app.definition import SubstitutionError, render
from templates_app.definition.argv import leading_dash_problems

log = logging.getLogger(__name__)


def worker_id() -> str:
    return f"{settings.JOBSITE_WORKER_ID}:{os.getpid()}"


class EngineContext(StepContext):
    """A StepContext whose logs and progress go to the job's event stream."""

    def __init__(self, *, log_writer: StepLogWriter, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.log_writer = log_writer

    def log(self, level: str, message: object) -> None:
        self.log_writer.add(level, message)

    def progress(self, pct: float) -> None:
        super().progress(pct)
        self.log_writer.set_progress(self.last_progress)


def run_step(step_run_id: int, attempt: int) -> str:
    """django-q2 task: run attempt `attempt` of step run `step_run_id` — and then, by
    eager dispatch (SPEC §7), each step that a finish here claimed for this worker, in
    this same process, without a round trip through the broker."""
    close_old_connections()
    if is_draining():
        # Hand the task back for another host; pause so a draining cluster does not spin
        # on tasks it keeps fetching until it stops.
        time.sleep(0.5)
        pool = StepRun.objects.filter(pk=step_run_id).values_list("pool", flat=True).first()
        enqueue_step(step_run_id, attempt, pool or DEFAULT_POOL)
        return "draining"
    claimed = claim_step(step_run_id, attempt, worker_id(), pools=host_pools())
    if claimed is None and settings.JOBSITE_EAGER_DISPATCH:
        # The doorbell rang for work: its own step was taken by a finishing worker
        # (or the delivery is stale), so take the oldest queued step instead, if any.
        claimed = claim_oldest_queued_step(worker_id(), host_pools())
    if claimed is None:
        return "not claimed"
    task_started = time.monotonic()
    status = None
    while claimed is not None:
        job, step = claimed
        status, claimed = run_claimed_step(job, step, task_started)
    return status


def run_claimed_step(
    job: Job, step: StepRun, task_started: float
) -> tuple[str, tuple[Job, StepRun] | None]:
    """Run the attempt this worker holds; returns (outcome status, the (job, step) the
    finish claimed eagerly for this worker, or None)."""
    step_run_id, attempt = step.pk, step.attempt
    lease_ends = time.monotonic() + settings.JOBSITE_LEASE_SECONDS
    spec = step_definition(job, step.step_id)
    executor = get_executor(step.type)
    workdir = Path(settings.JOBSITE_WORK_DIR) / str(job.pk) / f"{step.step_id}-{attempt}"
    log_writer = StepLogWriter(job, step, attempt)
    ctx = None
    stop_reason = None
    try:
        if executor is None:
            raise LookupError(f"unknown step type '{step.type}'")
        # Nothing has run yet: a database blip while preparing is waited out (within the
        # claim's lease) instead of failing a step that never started.
        ctx = retrying_while_database_away(
            lambda: prepare_context(job, step, spec, executor, workdir, log_writer),
            until=lease_ends,
        )
        beat = heartbeats().watch(job.pk, step_run_id, attempt, ctx, log_writer)
        try:
            outcome = executor.run(ctx)
        except Exception as exc:  # noqa: BLE001 - an executor bug fails the step, not the worker
            log_writer.add("ERROR", traceback.format_exc())
            outcome = Outcome.fail(f"{exc.__class__.__name__}: {exc}")
        finally:
            heartbeats().release(beat)
        stop_reason = ctx.should_stop()
        if outcome.status == "succeeded" and stop_reason is None and executor.uses_files:
            try:
                collect_step_artifacts(job, step, ctx.artifacts_dir)
            except ArtifactLimitExceeded as exc:
                log_writer.add("ERROR", str(exc))
                outcome = Outcome.fail(
                    str(exc), outputs=outcome.outputs, exit_code=outcome.exit_code
                )
    except SubstitutionError as exc:
        outcome = Outcome.fail(f"substitution failed: {exc}")
    except Exception as exc:  # noqa: BLE001 - the step fails with a clear error; the worker lives on
        log.exception("step %s attempt %s crashed before or after running", step_run_id, attempt)
        outcome = Outcome.fail(f"{exc.__class__.__name__}: {exc}")
    # Masked here, before anything is stored: the error and the outputs are what pages,
    # the API, webhooks and the next steps read (jobsite/secrets.py).
    if outcome.error:
        outcome.error = log_writer.mask(outcome.error)
    if outcome.outputs:
        outcome.outputs = log_writer.mask(outcome.outputs)
    eager = record_outcome(
        log_writer, step_run_id, attempt, outcome, stop_reason, task_started=task_started, known=job
    )
    if executor is not None and executor.uses_files:
        shutil.rmtree(workdir, ignore_errors=True)
    next_claim = (eager.job, eager.step) if eager is not None and eager.step is not None else None
    return outcome.status, next_claim


# --- eager dispatch -------------------------------------------------------------------


def may_run_here(step: StepRun) -> bool:
    """Whether this worker may run `step` at all: a step of a pool this host is not in
    (SPEC §14) is refused, so that it goes through its own pool's queue instead."""
    return pools.may_run_here(step)


def fits_in_task(step: StepRun, task_started: float) -> bool:
    """Whether `step`, run eagerly inside the current django-q2 task, would still end
    (timeout and kill grace included) a minute before django-q2's own task timeout,
    which would kill this worker process mid-step. Otherwise it goes to the broker."""
    step_timeout = step.timeout_seconds or settings.JOBSITE_MAX_STEP_TIMEOUT
    worst_end = (
        time.monotonic() - task_started + step_timeout + settings.JOBSITE_KILL_GRACE_SECONDS + 60
    )
    return worst_end < settings.Q_CLUSTER["timeout"]


def eager_offer(task_started: float | None) -> EagerClaim | None:
    """What the finishing worker may claim at once: nothing while this host drains
    (jobs/worker/hosts.py) — it hands the queued steps it sees off to other hosts by
    their doorbells instead (EagerClaim hand_off); else one next step (EagerClaim) that
    may run here and fits in the task's time. Concurrency limits need no check here: a
    step is only queued while its job holds its slot (jobs/engine/lifecycle.py
    advance_job), whichever job it is of."""
    if task_started is None or not settings.JOBSITE_EAGER_DISPATCH:
        return None
    if is_draining():
        return EagerClaim(worker_id(), pools=host_pools(), hand_off=True)
    return EagerClaim(
        worker_id(),
        lambda step: may_run_here(step) and fits_in_task(step, task_started),
        pools=host_pools(),
    )


def prepare_context(
    job: Job,
    step: StepRun,
    spec: dict,
    executor: Executor,
    workdir: Path,
    log_writer: StepLogWriter,
) -> EngineContext:
    """Everything a step needs before its executor starts; reads the database only."""
    upstream_steps = steps_of(job)  # as read under the claim's lock
    # The job's secrets are decrypted here, in the worker, for this step only.
    variables, params = job.unsealed_values()
    context = substitution_context(
        job, upstream_steps, step.step_id, variables=variables, params=params
    )
    for field, message in leading_dash_problems(job.definition, spec, context):
        # A step output (or a value that got past creation) would be an option: the
        # step fails before anything runs.
        raise SubstitutionError(field, f"{field} {message}")
    with_ = render(spec.get("with", {}), context, skip_keys=executor.raw_keys)
    directories, sandbox = {}, None
    if executor.uses_files:
        sandbox = step_sandbox_policy(job)
        directories = {"workdir": workdir / "work", "artifacts_dir": workdir / "artifacts"}
        for directory in directories.values():
            directory.mkdir(parents=True, exist_ok=True)
        directories["inputs_dir"] = stage_step_inputs(job, step, workdir / "inputs")
    return EngineContext(
        log_writer=log_writer,
        job_id=job.pk,
        step_id=step.step_id,
        with_=with_,
        vars=variables,
        params=context["params"],
        upstream={
            key: value["outputs"] for key, value in context["steps"].items() if key in step.needs
        },
        env=step_environment(job, step, variables, context["params"]),
        timeout=step.timeout_seconds,
        kill_grace=settings.JOBSITE_KILL_GRACE_SECONDS,
        sandbox=sandbox,
        **directories,
    )


def record_outcome(
    log_writer: StepLogWriter,
    step_run_id: int,
    attempt: int,
    outcome: Outcome,
    stop_reason: str | None,
    *,
    task_started: float | None = None,
    known: Job | None = None,
) -> EagerClaim | None:
    """Flush the step's last log lines and hand its outcome to the engine. A step that
    finished while the database was away keeps its result instead of being reaped as
    lost later; retrying is safe because finish_step is fenced on the attempt.

    Returns the EagerClaim offered to the finish (its .step is the step it claimed for
    this worker), or None."""

    tries = []

    def record():
        log_writer.flush()
        eager = eager_offer(task_started)  # a fresh offer per try: a rolled-back claim is no claim
        # A try that failed may have changed the known steps in memory and then rolled
        # back: the tries after it read them again.
        finish_step(
            step_run_id,
            attempt,
            outcome,
            stop_reason=stop_reason,
            eager=eager,
            known=None if tries else known,
        )
        return eager

    def first_then_fresh():
        try:
            return record()
        finally:
            tries.append(1)

    return retrying_while_database_away(
        first_then_fresh, until=time.monotonic() + settings.JOBSITE_LEASE_SECONDS
    )


def retrying_while_database_away[T](action: Callable[[], T], *, until: float) -> T:
    """action(), tried again once a second while the database does not answer, until the
    monotonic time `until` (then its error is raised)."""
    while True:
        try:
            return action()
        except (OperationalError, InterfaceError) as exc:
            if time.monotonic() >= until:
                raise
            log.warning("database away (%s); trying again in 1 s", exc.__class__.__name__)
            close_old_connections()
            time.sleep(1.0)


def _env_name(name):
    return "".join(ch if ch.isalnum() else "_" for ch in name).upper()


def _env_value(value):

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return "" if value is None else str(value)


def step_environment(job: Job, step: StepRun, variables: dict, params: dict) -> dict[str, str]:
    """VAR_*, PARAM_*, JOBSITE_JOB_ID, JOBSITE_STEP_ID: how values reach a shell step —
    as environment variables, never spliced into the script."""
    env = {f"VAR_{_env_name(name)}": _env_value(value) for name, value in variables.items()}
    env.update(
        {f"PARAM_{_env_name(name)}": _env_value(value) for name, value in (params or {}).items()}
    )
    env["JOBSITE_JOB_ID"] = str(job.pk)
    env["JOBSITE_STEP_ID"] = step.step_id
    env["JOBSITE_JOB_NAME"] = job.name
    return env
