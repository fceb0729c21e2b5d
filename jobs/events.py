"""Appending to a job's event stream.

The caller holds the job's row lock (jobs.transitions.locked_job). Sequence numbers are
allocated from Job.last_event_seq under that lock and inserted in the same transaction,
so the events a reader can see are always a gap-free prefix of the stream: a reader that
follows `after=<last seq>` sees every event exactly once, in order (SPEC §8).
"""

from django.db import connections, router
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


# One multi-row INSERT per this many events (SQLite allows 32766 parameters).
INSERT_CHUNK = 1000
_COLUMNS = ("job", "seq", "kind", "step_id", "level", "message", "data", "created_at")


def record_events(job, events, *, seq_saved=False):
    """Insert `events` (dicts of JobEvent fields) for a locked `job`; returns how many.

    `job` must be the instance read under the lock: its last_event_seq is the truth.
    `seq_saved`: the caller has already written the new last_event_seq (and updated_at)
    to the job's row in this transaction, with its own UPDATE.

    The rows go in as one plain multi-row INSERT per chunk rather than through
    `bulk_create`: a running step's log arrives here in batches of thousands of lines,
    and building a model instance per line cost more than the database's work. Values
    are converted by the model's own fields, so the rows are the ones bulk_create would
    write."""
    if not events:
        return 0
    now = timezone.now()
    first = job.last_event_seq + 1
    _insert_events(job.pk, first, now, events)
    job.last_event_seq = first + len(events) - 1
    if not seq_saved:
        Job.objects.filter(pk=job.pk).update(last_event_seq=job.last_event_seq, updated_at=now)
    return len(events)


def _insert_events(job_id, first_seq, now, events):
    fields = {name: JobEvent._meta.get_field(name) for name in _COLUMNS}
    connection = connections[router.db_for_write(JobEvent)]
    job_value = fields["job"].get_db_prep_save(job_id, connection)
    now_value = fields["created_at"].get_db_prep_save(now, connection)
    data_field = fields["data"]
    empty_data = data_field.get_db_prep_save({}, connection)
    rows = [
        (
            job_value,
            first_seq + offset,
            event["kind"],
            event.get("step_id", ""),
            event.get("level", ""),
            event.get("message", ""),
            data_field.get_db_prep_save(event["data"], connection) if event.get("data") else empty_data,
            now_value,
        )
        for offset, event in enumerate(events)
    ]
    quote = connection.ops.quote_name
    table = quote(JobEvent._meta.db_table)
    columns = ", ".join(quote(fields[name].column) for name in _COLUMNS)
    placeholders = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and len(rows) > 1:
            # COPY: psycopg re-parses a long multi-row INSERT on every call (it caches
            # only short statements), which made PostgreSQL 7× slower than SQLite here.
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start : start + INSERT_CHUNK]
            sql = f"INSERT INTO {table} ({columns}) VALUES " + ", ".join([placeholders] * len(chunk))
            cursor.execute(sql, [value for row in chunk for value in row])
