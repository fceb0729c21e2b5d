"""A template's page with its start form, and the same form prefilled from an old job
("Rerun with changes"). The form is generated from the template's variables and checked
by the API's validator (jobs.views.forms)."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from jobs import services
from jobs.engine.states import JOB_CAN_RERUN
from jobs.engine.transitions import TransitionRefused
from jobs.models import Trigger
from jobs.views.charts import step_graph
from jobs.views.forms import StartForm, submission_token
from jobs.views.job_actions import create_once
from jobs.views.permissions import job_for, jobs_of, member_required, require_role, template_for
from jobsite.models import Role

RECENT_RUNS = 10


def variables_table(definition):
    rows = []
    for name, declaration in definition.get("variables", {}).items():
        constraints = []
        for key, word in (("min", "min"), ("max", "max"), ("pattern", "pattern")):
            if declaration.get(key) is not None:
                constraints.append(f"{word} {declaration[key]}")
        if declaration.get("choices"):
            constraints.append("one of " + ", ".join(str(c) for c in declaration["choices"]))
        rows.append(
            {
                "name": name,
                "type": declaration["type"],
                "required": declaration["required"],
                "has_default": "default" in declaration,
                # A secret's default is never shown, not even to admins.
                "default": "***" if declaration["type"] == "secret" else declaration.get("default"),
                "constraints": "; ".join(constraints),
                "description": declaration.get("description", ""),
            }
        )
    return rows


def template_page(request, template, form, status=200):
    definition = template.current_version.definition
    context = {
        "template": template,
        "definition": definition,
        "version": template.current_version,
        "form": form,
        "can_start": request.tenant.can(Role.OPERATOR),
        "variables": variables_table(definition),
        "graph": step_graph(definition.get("steps", [])),
        "recent_runs": list(
            jobs_of(request).filter(template=template).order_by("-created_at", "-id")[:RECENT_RUNS]
        ),
    }
    return render(request, "jobs/template_detail.html", context, status=status)


@require_GET
@member_required
def template_detail(request, slug):
    template = template_for(request, slug)
    form = StartForm(
        template.current_version.definition, initial={"submission": submission_token(request)}
    )
    return template_page(request, template, form)


@require_http_methods(["POST"])
@member_required
def template_start(request, slug):
    """Start a job (or save it as a draft) from the submitted form. Bad values re-render
    the page with the validator's messages beside their fields (status 400)."""
    require_role(request, Role.OPERATOR)
    template = template_for(request, slug)
    definition = template.current_version.definition
    form = StartForm(definition, request.POST)
    draft = request.POST.get("action") == "draft"

    def create(job_id):
        return services.create_job(
            request.tenant.workspace,
            template=template,
            variables=form.submitted_variables(),
            params=form.submitted_params(),
            name=form.job_name_value(),
            start=not draft,
            trigger=Trigger.UI,
            created_by=request.tenant.actor,
            job_id=job_id,
        )

    try:
        job = create_once(request, request.POST.get("submission"), create)
    except services.JobValidationError as exc:
        form.add_service_errors(exc.errors)
        return template_page(request, template, form, status=400)
    if job is None:  # an expired or forged form: show it again with a fresh token
        data = request.POST.copy()
        data["submission"] = submission_token(request)
        return template_page(request, template, StartForm(definition, data), status=400)
    messages.success(
        request, "Draft saved. Start it from its page when ready." if draft else "Job started."
    )
    return redirect("job-detail", job_id=job.pk)


@require_http_methods(["GET", "POST"])
@member_required
def job_rerun_edit(request, job_id):
    """ "Rerun with changes": the start form prefilled with the old job's values; secrets
    are not shown and an empty secret field keeps the old value."""
    require_role(request, Role.OPERATOR)
    job = job_for(request, job_id)
    if job.status not in JOB_CAN_RERUN:
        messages.error(request, f"Only a finished job can be rerun; this one is {job.status}.")
        return redirect("job-detail", job_id=job.pk)
    definition = job.definition
    if request.method == "GET":
        form = StartForm(
            definition,
            initial={"submission": submission_token(request), "job_name": job.name},
            initial_variables=job.variables,
            secrets_kept=True,
            with_params=False,  # a rerun keeps the old job's params (rerun_job takes none)
        )
        return render(request, "jobs/job_rerun_edit.html", {"job": job, "form": form})
    form = StartForm(definition, request.POST, secrets_kept=True, with_params=False)

    def create(new_id):
        return services.rerun_job(
            job,
            variables=form.submitted_variables(omit_empty_secrets=True),
            trigger=Trigger.RERUN,
            created_by=request.tenant.actor,
            job_id=new_id,
        )

    try:
        new = create_once(request, request.POST.get("submission"), create)
    except services.JobValidationError as exc:
        form.add_service_errors(exc.errors)
        return render(request, "jobs/job_rerun_edit.html", {"job": job, "form": form}, status=400)
    except TransitionRefused as exc:
        messages.error(request, f"Not rerun: {exc}.")
        return redirect("job-detail", job_id=job.pk)
    if new is None:
        return redirect("job-rerun-edit", job_id=job.pk)
    messages.success(request, "Rerun with your changes started.")
    return redirect("job-detail", job_id=new.pk)
