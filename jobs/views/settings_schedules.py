"""Settings: schedules — a template run on a cron expression in a time zone with fixed
variables. Operators and admins list, add and edit them; only admins delete them.

A schedule is saved only when the dispatcher could run it: the form parses, and
`jobs.automation.schedules.save_schedule` (the API's and the admin's too) checks and writes. A schedule the dispatcher paused
shows why; saving it with variables that validate clears the reason, and ticking
Enabled runs it again.
"""

from zoneinfo import ZoneInfo

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from jobs.automation.schedules import ScheduleInvalid, save_schedule, stored_secrets
from jobs.engine.events import MASK
from jobs.models.automation import Schedule
from jobs.views.permissions import choosable_templates, form_data, member_required, require_role
from jobs.views.settings_common import confirm_delete, form_page
from jobs.views.settings_forms import ScheduleForm, add_service_errors
from jobsite.models import Role


def _schedule_for(request, schedule_id):
    return get_object_or_404(
        Schedule.objects.select_related("template__current_version"),
        pk=schedule_id,
        workspace=request.tenant.workspace,
    )


def shown_variables(schedule):
    """(name, value) pairs for the list, a secret's value masked."""
    secrets = stored_secrets(schedule)
    return [
        (name, MASK if name in secrets else value)
        for name, value in (schedule.variables or {}).items()
    ]


@require_GET
@member_required
def settings_schedules(request):
    require_role(request, Role.OPERATOR)
    schedules = (
        Schedule.objects.filter(workspace=request.tenant.workspace)
        .select_related("template__current_version", "last_job")
        .order_by("template__name", "cron")
    )
    rows = [
        {"schedule": schedule, "variables": shown_variables(schedule)} for schedule in schedules
    ]
    context = {"rows": rows, "section": "schedules", "can_delete": request.tenant.is_admin}
    return render(request, "jobs/settings_schedules.html", context)


def _next_run_text(schedule):
    if not schedule.enabled:
        return "It is off."
    local = schedule.next_run_at.astimezone(ZoneInfo(schedule.timezone))
    return f"Next run {local:%Y-%m-%d %H:%M} {schedule.timezone}."


def _save(request, form):
    """Save what the form parsed with the schedule service. Returns the schedule, or
    None with each problem put on its field."""
    try:
        return save_schedule(form.instance)
    except ScheduleInvalid as exc:
        add_service_errors(form, exc.errors)
        return None


def _form_page(request, form, schedule=None):
    return form_page(
        request,
        "jobs/settings_schedule_form.html",
        form,
        schedule=schedule,
        section="schedules",
        can_delete=request.tenant.is_admin,
    )


@require_http_methods(["GET", "POST"])
@member_required
def settings_schedule_new(request):
    require_role(request, Role.OPERATOR)
    templates = choosable_templates(request)
    schedule = Schedule(workspace=request.tenant.workspace, created_by=request.user)
    initial = {"enabled": True, "timezone": "UTC"}
    chosen = templates.filter(slug=request.GET.get("template", "")).first()
    if chosen:
        initial["template"] = chosen.pk  # "Schedule it" on a template's page
    form = ScheduleForm(form_data(request), instance=schedule, templates=templates, initial=initial)
    if request.method == "POST" and form.is_valid():
        schedule = _save(request, form)
        if schedule:
            messages.success(request, f"Schedule “{schedule}” added. {_next_run_text(schedule)}")
            return redirect("settings-schedules")
    return _form_page(request, form)


@require_http_methods(["GET", "POST"])
@member_required
def settings_schedule_edit(request, schedule_id):
    require_role(request, Role.OPERATOR)
    schedule = _schedule_for(request, schedule_id)
    form = ScheduleForm(
        form_data(request),
        instance=schedule,
        templates=choosable_templates(request, keep=schedule.template_id),
    )
    if request.method == "POST" and form.is_valid():
        saved = _save(request, form)
        if saved:
            messages.success(request, f"Schedule “{saved}” saved. {_next_run_text(saved)}")
            return redirect("settings-schedules")
    return _form_page(request, form, schedule)


@require_http_methods(["GET", "POST"])
@member_required
def settings_schedule_delete(request, schedule_id):
    """A page asking to confirm (so it works without JavaScript), then the delete."""
    require_role(request, Role.ADMIN)
    schedule = _schedule_for(request, schedule_id)

    def delete():
        name = str(schedule)
        schedule.delete()
        return f"Schedule “{name}” deleted. The jobs it started stay."

    return confirm_delete(
        request,
        delete=delete,
        done_url="settings-schedules",
        section="schedules",
        title="Delete this schedule?",
        subject=f"{schedule} · {schedule.cron} {schedule.timezone}",
        consequence=(
            "It starts no more jobs; the jobs it started stay. "
            "Unticking Enabled instead keeps it for later."
        ),
        back_url=reverse("settings-schedule-edit", args=[schedule.pk]),
    )
