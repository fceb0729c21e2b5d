"""How a job's log reads: one line per log event, `LEVEL: [step] message`; the levels
and "this level and above"; the last lines of a long log. Shared by the API's logs
endpoint, the job page, the log page, the log download and `runjob`."""

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


def tail_lines(events: QuerySet[JobEvent], last_seq: int, count: int) -> list[JobEvent]:
    """The last `count` of `events`, oldest first. Read in widening windows of seq below
    the job's last event, so the query touches about `count` rows even while
    PostgreSQL's statistics do not know yet that the job has a million events (right
    after a big step, until autovacuum's next ANALYZE, it would otherwise sort them
    all; docs/benchmarks.md has the figures)."""
    window = 2 * count
    while True:
        floor = last_seq - window
        if floor <= 0:
            return list(events.order_by("-seq")[:count])[::-1]
        lines = list(events.filter(seq__gt=floor).order_by("-seq")[:count])
        if len(lines) == count:
            return lines[::-1]
        window *= 8
