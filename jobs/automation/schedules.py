"""Cron schedules of templates. The dispatcher starts due runs.

After downtime a schedule runs **once** to catch up, not once per missed time: the next
run is always computed from now, never from the missed time (documented in
docs/schedules.md). A schedule whose variables no longer validate against its template
is paused with the reason, visible in the UI, API and admin.
"""

import logging
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter
from django.db import transaction
from django.utils import timezone

from jobs.engine.transitions import TransitionRefused
from jobs.models import Trigger
from jobs.models.automation import Schedule
from jobs.services import JobValidationError, create_job

log = logging.getLogger(__name__)


class ScheduleError(ValueError):
    """A bad cron expression or timezone; `field` names which."""

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field


def validate_cron(cron, tz_name):
    try:
        zone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError("timezone", f"unknown timezone {tz_name!r} (use an IANA name such as Europe/Paris)") from None
    if not isinstance(cron, str) or len(cron.split()) != 5 or not croniter.is_valid(cron):
        raise ScheduleError("cron", f"{cron!r} is not a five-field cron expression (minute hour day month weekday)")
    try:
        croniter(cron, datetime.now(zone)).get_next(datetime)
    except (CroniterBadDateError, ValueError):
        raise ScheduleError("cron", f"{cron!r} names no date that ever comes (e.g. February 31st)") from None
    return zone


def next_run_after(cron, tz_name, after):
    """The first time strictly after `after` that `cron` names, in `tz_name`, as UTC."""
    zone = validate_cron(cron, tz_name)
    local = after.astimezone(zone)
    nxt = croniter(cron, local).get_next(datetime)
    return nxt.astimezone(ZoneInfo("UTC"))


def save_schedule(schedule):
    """Validate cron/timezone and set next_run_at; the caller saves."""
    schedule.next_run_at = next_run_after(schedule.cron, schedule.timezone, timezone.now()) if schedule.enabled else None
    return schedule


def run_due_schedules(now=None):
    """Dispatcher duty: start each due schedule's job once. Returns how many started."""
    now = now or timezone.now()
    started = 0
    due = Schedule.objects.filter(enabled=True, next_run_at__lte=now).values_list("pk", flat=True)
    for schedule_id in list(due[:100]):
        with transaction.atomic():
            schedule = Schedule.objects.select_for_update().select_related("template", "workspace").filter(pk=schedule_id, enabled=True, next_run_at__lte=now).first()
            if schedule is None:
                continue  # another dispatcher took it
            schedule.last_run_at = now
            schedule.next_run_at = next_run_after(schedule.cron, schedule.timezone, now)
            fields = ["last_run_at", "next_run_at"]
            try:
                with transaction.atomic():
                    if schedule.template.archived_at or not schedule.template.current_version_id:
                        raise TransitionRefused("its template is archived")
                    job = create_job(
                        schedule.workspace, template=schedule.template, variables=schedule.variables,
                        trigger=Trigger.SCHEDULE, created_by=f"schedule:{schedule.name or schedule.pk}",
                    )
                schedule.last_job = job
                fields.append("last_job")
                started += 1
            except JobValidationError as exc:
                problems = "; ".join(f"{field}: {', '.join(msgs)}" for field, msgs in exc.errors.items())
                schedule.enabled, schedule.next_run_at = False, None
                schedule.paused_reason = f"paused: its variables no longer validate ({problems})"[:500]
                fields += ["enabled", "paused_reason"]
            except TransitionRefused as exc:
                # Over a concurrency limit with `reject`, or an archived template: skip
                # this run and say so; the schedule keeps its next time.
                log.warning("schedule %s skipped a run: %s", schedule.pk, exc)
                if "archived" in str(exc):
                    schedule.enabled, schedule.next_run_at = False, None
                    schedule.paused_reason = "paused: its template is archived"
                    fields += ["enabled", "paused_reason"]
            schedule.save(update_fields=fields)
    return started
