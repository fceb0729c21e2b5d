"""Appending to a job's event stream.

The caller holds the job's row lock (jobs.transitions.locked_job). Sequence numbers are
allocated from Job.last_event_seq under that lock and inserted in the same transaction,
so the events a reader can see are always a gap-free prefix of the stream: a reader that
follows `after=<last seq>` sees every event exactly once, in order (SPEC §8).
"""

from django.utils import timezone

from jobs.models import Job, JobEvent

MASK = "***"
# Shorter secrets are not masked inside text: masking every "a" or "12" in a log would
# destroy it and protect nothing.
MIN_MASKED_SECRET_LENGTH = 3


def mask_secrets(text, secret_values):
    if not text or not secret_values:
        return text
    for value in sorted(secret_values, key=len, reverse=True):
        if len(value) >= MIN_MASKED_SECRET_LENGTH:
            text = text.replace(value, MASK)
    return text


def record_events(job, events):
    """Insert `events` (dicts of JobEvent fields) for a locked `job`; returns them.

    `job` must be the instance read under the lock: its last_event_seq is the truth."""
    if not events:
        return []
    now = timezone.now()
    first = job.last_event_seq + 1
    rows = [
        JobEvent(job_id=job.pk, seq=first + offset, created_at=now, **event)
        for offset, event in enumerate(events)
    ]
    JobEvent.objects.bulk_create(rows)
    job.last_event_seq = first + len(rows) - 1
    Job.objects.filter(pk=job.pk).update(last_event_seq=job.last_event_seq, updated_at=now)
    return rows
