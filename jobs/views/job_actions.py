"""What an operator can do to a job: run a draft, cancel, rerun (all steps or only the
failed ones). Each view checks the role, calls the service the API also calls, and
redirects back to a page (POST → redirect → GET, so a reload never repeats an action)."""

from django.contrib import messages
from django.db import IntegrityError
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from jobs import services
from jobs.engine.transitions import TransitionRefused
from jobs.models import Trigger
from jobs.views.forms import job_id_from_submission
from jobs.views.permissions import job_for, jobs_of, member_required, require_role
from jobsite.models import Role


@require_POST
@member_required
def job_run(request, job_id):
    require_role(request, Role.OPERATOR)
    job = job_for(request, job_id)
    try:
        services.start_job(job)
        messages.success(request, "Job started.")
    except TransitionRefused as exc:
        messages.error(request, f"Not started: {exc}.")
    return redirect("job-detail", job_id=job.pk)


@require_POST
@member_required
def job_cancel(request, job_id):
    require_role(request, Role.OPERATOR)
    job = job_for(request, job_id)
    force = request.POST.get("force") == "1"
    try:
        services.cancel_job(job, force=force)
        messages.success(request, "Cancel requested." if not force else "Job canceled (forced).")
    except TransitionRefused as exc:
        messages.error(request, f"Not canceled: {exc}.")
    return redirect("job-detail", job_id=job.pk)


def create_once(request, submission, create):
    """Run `create(job_id)` with the job id this form render was given. A second submit
    of the same render finds that job instead of making another one. Returns the job, or
    None when the token is bad (a message says so)."""
    job_id = job_id_from_submission(request, submission)
    if job_id is None:
        messages.error(request, "This form has expired. Please submit it again.")
        return None
    existing = jobs_of(request).filter(pk=job_id).first()
    if existing is not None:
        return existing
    try:
        return create(job_id)
    except IntegrityError:
        # The other click's transaction won the race for this id.
        existing = jobs_of(request).filter(pk=job_id).first()
        if existing is None:
            raise
        return existing


@require_POST
@member_required
def job_rerun(request, job_id):
    require_role(request, Role.OPERATOR)
    job = job_for(request, job_id)
    start_from = request.POST.get("from", "")
    from_failed = start_from == "failed"
    from_step = start_from if start_from not in ("", "start", "failed") else None

    if from_step and services.downstream_of(job.definition, from_step) is None:
        messages.error(request, f"Not rerun: this job has no step {from_step}.")
        return redirect("job-detail", job_id=job.pk)

    def create(new_id):
        return services.rerun_job(
            job,
            from_failed=from_failed,
            from_step=from_step,
            trigger=Trigger.RERUN,
            created_by=request.tenant.actor,
            job_id=new_id,
        )

    try:
        new = create_once(request, request.POST.get("submission"), create)
    except TransitionRefused as exc:
        messages.error(request, f"Not rerun: {exc}.")
        return redirect("job-detail", job_id=job.pk)
    except services.JobValidationError as exc:
        # The template changed under the old variables: the edit form says what to fix.
        messages.error(
            request, "The old variables are no longer valid; change them and start again."
        )
        for field, problems in exc.errors.items():
            messages.error(request, f"{field}: {'; '.join(problems)}")
        return redirect("job-rerun-edit", job_id=job.pk)
    if new is None:
        return redirect("job-detail", job_id=job.pk)
    messages.success(
        request,
        "Rerun of the failed steps started."
        if from_failed
        else f"Rerun from step {from_step} started."
        if from_step
        else "Rerun started.",
    )
    return redirect("job-detail", job_id=new.pk)
