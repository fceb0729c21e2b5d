"""Cron schedules of templates: the one way to change one (`validate_schedule`,
`save_schedule`, called by the settings form, the API and the admin alike), and the
dispatcher's duty that starts due runs.

After downtime a schedule runs **once** to catch up, not once per missed time: the next
run is always computed from now, never from the missed time (documented in
docs/schedules.md). A schedule whose variables no longer validate against its template
is paused with the reason, visible in the UI, API and admin.

A schedule is saved only when the dispatcher could run it: its variables pass
`templates_app.definition.validate_values` against the template's current version (the
validator jobs use) and its cron expression and time zone name a time that comes. Every
problem is reported at once, keyed `cron`, `timezone`, `enabled`, `variables` or
`variables.<name>`. Secret variables are never shown: one left out, or sent back as the
mask it was shown as, keeps its stored value while the template stays the same.
"""

import logging
import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter
from django.db import transaction
from django.utils import timezone

from jobs.engine.events import MASK
from jobs.engine.transitions import TransitionRefused
from jobs.models import Trigger
from jobs.models.automation import Schedule
from jobs.services import JobValidationError, create_job
from templates_app.definition import is_empty, secret_names, validate_values

log = logging.getLogger(__name__)

ARCHIVED_CANNOT_RUN = (
    "Its template is archived: it cannot run. Pick another template or leave it off."
)
# Saving an edit writes only what a person sets, so a run the dispatcher records at the
# same moment (last_run_at, last_job) is not overwritten.
EDITED_FIELDS = [
    "template", "name", "cron", "timezone", "variables", "sealed_secrets", "enabled", "paused_reason", "next_run_at",
]  # fmt: skip


class ScheduleError(ValueError):
    """A bad cron expression or timezone; `field` names which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class ScheduleInvalid(Exception):
    """What is wrong with a schedule: `errors` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("Invalid schedule.")
        self.errors = errors


def validate_cron(cron: str, tz_name: str) -> ZoneInfo:
    try:
        zone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            "timezone", f"unknown timezone {tz_name!r} (use an IANA name such as Europe/Paris)"
        ) from None
    if not isinstance(cron, str) or len(cron.split()) != 5:
        raise ScheduleError(
            "cron", f"{cron!r} is not a five-field cron expression (minute hour day month weekday)"
        )
    if not croniter.is_valid(cron):
        raise ScheduleError("cron", cron_field_problem(cron))
    try:
        croniter(cron, datetime.now(zone)).get_next(datetime)
    except (CroniterError, ValueError):
        # Well-formed is not enough: "0 3 31 2 *" (February 31st) never comes.
        raise ScheduleError(
            "cron", f"{cron!r} names no date that ever comes (e.g. February 31st)"
        ) from None
    return zone


def next_run_after(cron: str, tz_name: str, after: datetime) -> datetime:
    """The first time strictly after `after` that `cron` names, in `tz_name`, as UTC."""
    zone = validate_cron(cron, tz_name)
    local = after.astimezone(zone)
    nxt = croniter(cron, local).get_next(datetime)
    return nxt.astimezone(ZoneInfo("UTC"))


def normalize_cron(text: str) -> str:
    return " ".join(text.split())


def normalize_timezone(text: str) -> str:
    """A time zone as typed; empty means UTC."""
    return text.strip() or "UTC"


def declared_variables(template) -> dict:
    """The variables the template's current version declares."""
    version = template.current_version
    return version.definition.get("variables", {}) if version else {}


def stored_secrets(schedule: Schedule) -> dict:
    """The schedule's stored secret values (never shown, kept when left out)."""
    if schedule._state.adding or schedule.template_id is None:
        return {}
    secrets = secret_names(declared_variables(schedule.template))
    # Decrypted only to be validated and sealed again with the schedule's other values.
    # A secret counts while `variables` names it ("***" when sealed): a form that has
    # just replaced `variables` without it has dropped it.
    present = {
        name
        for name, value in (schedule.variables or {}).items()
        if name in secrets and not is_empty(value)
    }
    return {name: value for name, value in schedule.unsealed_variables().items() if name in present}


def shown_variables(schedule: Schedule) -> dict:
    """The stored variables a person may see: everything but the secrets."""
    if schedule._state.adding or schedule.template_id is None:
        return dict(schedule.variables or {})
    secrets = secret_names(declared_variables(schedule.template))
    return {
        name: value for name, value in (schedule.variables or {}).items() if name not in secrets
    }


def _submitted_variables(schedule: Schedule, template, given: dict | None) -> dict:
    """The variables to validate: what was given (None: the stored values a person would
    see), plus the stored secrets when the template stays the same."""
    kept = stored_secrets(schedule) if template.pk == schedule.template_id else {}
    if given is None:
        given = shown_variables(schedule)
    new_secrets = secret_names(declared_variables(template))
    submitted = {}
    for name, value in given.items():
        if name in new_secrets and value == MASK:
            # Sent back as the mask it was shown as: keep it (if there is one to keep).
            if name in kept:
                submitted[name] = kept[name]
            continue
        submitted[name] = value
    for name, value in kept.items():
        submitted.setdefault(name, value)  # left out: kept
    return submitted


def _check_when(cron: str, tz_name: str) -> dict[str, list[str]]:
    """A bad cron expression and a bad time zone, both reported at once."""
    errors: dict[str, list[str]] = {}
    try:
        validate_cron(cron, tz_name)
    except ScheduleError as exc:
        errors[exc.field] = [str(exc)]
        if exc.field == "timezone":
            try:
                validate_cron(cron, "UTC")
            except ScheduleError as cron_exc:
                errors.setdefault(cron_exc.field, []).append(str(cron_exc))
    return errors


def validate_schedule(
    schedule: Schedule,
    *,
    template,
    cron: str | None,
    timezone: str,
    enabled: bool,
    variables: dict | None,
) -> tuple[dict | None, dict[str, list[str]]]:
    """Check a schedule as it would be after these changes, without changing it.

    Returns (the variables to store, errors by field). `template` None skips what depends
    on it (the caller reports why there is none). Only what was given is stored: a
    variable left out takes the template's default at each run, so a later change of
    that default reaches the schedule too. `cron` None: the caller reports it missing."""
    errors = _check_when(cron, timezone) if cron is not None else {}
    if template is None:
        return None, errors
    if template.archived_at and enabled:
        errors["enabled"] = [ARCHIVED_CANNOT_RUN]
    submitted = _submitted_variables(schedule, template, variables)
    values, problems = validate_values(declared_variables(template), submitted)
    for name, messages in problems.items():
        errors["variables" if name == "__all__" else f"variables.{name}"] = messages
    if problems:
        return None, errors
    return {name: values[name] for name, value in submitted.items() if not is_empty(value)}, errors


def save_schedule(schedule: Schedule, **changes) -> Schedule:
    """Validate and write a schedule: the only way one is added or changed.

    `changes` (template, name, cron, timezone, enabled, variables) default to what the
    schedule holds. Raises ScheduleInvalid naming every problem; otherwise sets the next
    run, clears a pause's reason (its variables validate and its template runs) and saves
    — an existing schedule only its EDITED_FIELDS."""
    template = changes.get("template", schedule.template if schedule.template_id else None)
    cron = changes.get("cron", schedule.cron)
    tz_name = changes.get("timezone", schedule.timezone)
    enabled = changes.get("enabled", schedule.enabled)
    variables, errors = validate_schedule(
        schedule,
        template=template,
        cron=cron,
        timezone=tz_name,
        enabled=enabled,
        variables=changes.get("variables"),
    )
    if template is None:
        errors.setdefault("template", ["this field is required"])
    if not cron:
        errors.setdefault("cron", ["this field is required"])
    if errors:
        raise ScheduleInvalid(errors)
    schedule.template = template
    schedule.name = changes.get("name", schedule.name)
    schedule.cron, schedule.timezone, schedule.enabled, schedule.variables = (
        cron,
        tz_name,
        enabled,
        variables,
    )
    schedule.seal_variables()  # secret values: encrypted, "***" in `variables`
    schedule.next_run_at = next_run_after(cron, tz_name, timezone.now()) if enabled else None
    if not template.archived_at:
        schedule.paused_reason = ""
    schedule.save(update_fields=None if schedule._state.adding else EDITED_FIELDS)
    return schedule


def run_due_schedules(now: datetime | None = None) -> int:
    """Dispatcher duty: start each due schedule's job once. Returns how many started."""
    now = now or timezone.now()
    started = 0
    due = Schedule.objects.filter(enabled=True, next_run_at__lte=now).values_list("pk", flat=True)
    for schedule_id in list(due[:100]):
        with transaction.atomic():
            schedule = (
                Schedule.objects.select_for_update()
                .select_related("template", "workspace")
                .filter(pk=schedule_id, enabled=True, next_run_at__lte=now)
                .first()
            )
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
                        schedule.workspace,
                        template=schedule.template,
                        variables=schedule.unsealed_variables(),
                        trigger=Trigger.SCHEDULE,
                        created_by=f"schedule:{schedule.name or schedule.pk}",
                    )
                schedule.last_job = job
                fields.append("last_job")
                started += 1
            except JobValidationError as exc:
                problems = "; ".join(
                    f"{field}: {', '.join(msgs)}" for field, msgs in exc.errors.items()
                )
                schedule.enabled, schedule.next_run_at = False, None
                schedule.paused_reason = f"paused: its variables no longer validate ({problems})"[
                    :500
                ]
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


CRON_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("weekday", 0, 7),
)


def cron_field_problem(cron: str) -> str:
    """Which field of a five-field expression is wrong, e.g. "minute: 61 is out of range
    (0-59)" for `61 * * * *`."""
    for text, (name, low, high) in zip(cron.split(), CRON_FIELDS, strict=True):
        for number in re.findall(r"\d+", text):
            if not low <= int(number) <= high:
                return f"{name}: {number} is out of range ({low}-{high}) in {cron!r}"
    for index, (text, (name, low, high)) in enumerate(zip(cron.split(), CRON_FIELDS, strict=True)):
        probe = " ".join(text if i == index else "*" for i in range(5))
        if not croniter.is_valid(probe):
            return f"{name}: {text!r} is not valid (use numbers {low}-{high}, *, ranges, lists or steps)"
    return f"{cron!r} is not a valid cron expression (minute hour day month weekday)"
