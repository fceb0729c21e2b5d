"""A template's page with its start form, and the same form prefilled from an old job
("Rerun with changes"). The form is generated from the template's variables and checked
by the API's validator (jobs.views.forms)."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from jobs import services
from jobs.engine.states import JOB_CAN_RERUN
from jobs.engine.transitions import TransitionRefused
from jobs.models import Trigger
from jobs.uploads import (
    HashingUploadHandler,
    UploadRefused,
    file_variable_names,
    max_upload_bytes,
    save_upload,
)
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


def stream_form_files(request, definition):
    """Before anything reads the body: the form's files (for `file` variables) are
    streamed to temporary files and hashed on the way, never held in memory."""
    count = len(file_variable_names(definition))
    if count:
        limit = max_upload_bytes(request.tenant.workspace)
        request.upload_handlers = [HashingUploadHandler(limit, fields=None, max_files=count)]


def store_form_uploads(request, form):
    """Each file sent in a `file` variable's field becomes an upload; its id is the value
    the validator sees. UploadRefused when one cannot be stored."""
    for key in form.file_keys():
        received = request.FILES.get(key)
        if received is not None:
            upload = save_upload(
                request.tenant.workspace, received, field=key, created_by=request.tenant.actor
            )
            form.upload_ids[key] = str(upload.pk)


def refused_form(request, definition, exc, **form_kwargs):
    """A fresh form (the body could not be read) with the upload's problem at its field."""
    form = StartForm(definition, initial={"submission": submission_token(request)}, **form_kwargs)
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    return form


@csrf_exempt  # the CSRF check reads the body: it runs after the upload handler is set
@require_http_methods(["POST"])
@member_required
def template_start(request, slug):
    """Start a job (or save it as a draft) from the submitted form — files included:
    one click uploads them and starts the job. Bad values re-render the page with the
    validator's messages beside their fields (status 400)."""
    require_role(request, Role.OPERATOR)
    template = template_for(request, slug)
    stream_form_files(request, template.current_version.definition)
    try:
        return _template_start(request, template)
    except UploadRefused as exc:
        form = refused_form(request, template.current_version.definition, exc)
        return template_page(request, template, form, status=exc.status)


@csrf_protect
def _template_start(request, template):
    definition = template.current_version.definition
    form = StartForm(definition, request.POST)
    draft = request.POST.get("action") == "draft"
    store_form_uploads(request, form)

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


@csrf_exempt  # as template_start: the CSRF check runs after the upload handler is set
@require_http_methods(["GET", "POST"])
@member_required
def job_rerun_edit(request, job_id):
    """ "Rerun with changes": the start form prefilled with the old job's values; secrets
    and files are not shown, and an empty secret or file field keeps the old value."""
    require_role(request, Role.OPERATOR)
    job = job_for(request, job_id)
    if job.status not in JOB_CAN_RERUN:
        messages.error(request, f"Only a finished job can be rerun; this one is {job.status}.")
        return redirect("job-detail", job_id=job.pk)
    if request.method == "POST":
        stream_form_files(request, job.definition)
    try:
        return _job_rerun_edit(request, job)
    except UploadRefused as exc:
        form = refused_form(request, job.definition, exc, secrets_kept=True, with_params=False)
        return render(
            request, "jobs/job_rerun_edit.html", {"job": job, "form": form}, status=exc.status
        )


@csrf_protect
def _job_rerun_edit(request, job):
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
    store_form_uploads(request, form)

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


# Both set their own upload handlers before the body is read (jobsite/text_input.py).
template_start.streams_uploads = True
job_rerun_edit.streams_uploads = True
