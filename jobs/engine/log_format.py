"""How a job's log reads as text: one line per log event, `LEVEL: [step] message`.
Shared by the API's logs endpoint, the log download on the job page and `runjob`."""

from django.db.models import QuerySet

from jobs.executors.base import LEVELS
from jobs.models import EventKind, Job, JobEvent


def log_line(event: JobEvent, with_step: bool = True) -> str:
    if with_step and event.step_id:
        return f"{event.level}: [{event.step_id}] {event.message}"
    return f"{event.level}: {event.message}"


def log_events(job: Job) -> QuerySet[JobEvent]:
    return job.events.filter(kind=EventKind.LOG).order_by("seq")


def levels_at_least(level: str) -> tuple[str, ...]:
    """`level` and the levels above it (a log filter shows these)."""
    return LEVELS[LEVELS.index(level) :]
