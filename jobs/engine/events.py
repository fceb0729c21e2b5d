"""Appending to a job's event stream.

The caller holds the job's row lock (jobs.engine.transitions.locked_job). Sequence numbers are
allocated from Job.last_event_seq under that lock and inserted in the same transaction,
so the events a reader can see are always a gap-free prefix of the stream: a reader that
follows `after=<last seq>` sees every event exactly once, in order (SPEC §8).
"""

import json
from collections.abc import Iterable
from functools import cache

from django.db import connections, router
from django.utils import timezone

from jobs.models import Job, JobEvent
from jobsite.field_writers import field_writers
from jobsite.named_inserts import array_parameters
from jobsite.named_sql import db_value, execute_or_hold
from jobsite.secrets import MASK, mask
from jobsite.sent_together import Statement, run_together

__all__ = ["MASK", "mask_secrets", "record_events"]


def mask_secrets(text: str, secret_values: Iterable[str]) -> str:
    """The one masking function (jobsite/secrets.py), under the name the engine's callers know."""
    return mask(text, secret_values)


# One multi-row INSERT per this many events (SQLite allows 32766 parameters).
INSERT_CHUNK = 1000
# On PostgreSQL a COPY is two round trips (the COPY, then the data and its end) where an
# INSERT is one: a transition's few events go in with an INSERT, more with a COPY
# (docs/benchmarks.md, round 4d).
COPY_FROM = 16
_COLUMNS = ("job", "seq", "kind", "step_id", "level", "message", "data", "created_at")


def record_events(job: Job, events: list[dict], *, seq_saved: bool = False) -> int:
    """Insert `events` (dicts of JobEvent fields) for a locked `job`; returns how many.

    `job` must be the instance read under the lock: its last_event_seq is the truth.
    `seq_saved`: the caller has already written the new last_event_seq (and updated_at)
    to the job's row in this transaction, with its own UPDATE.

    Inside an engine section (start_event_buffer) the events only get their seq here
    and are written by flush_events at the end of the section, all in one INSERT.

    The rows go in as one plain multi-row INSERT per chunk rather than through
    `bulk_create`: a running step's log arrives here in batches of thousands of lines,
    and building a model instance per line cost more than the database's work. Values
    are converted by the model's own fields, so the rows are the ones bulk_create would
    write."""
    if not events:
        return 0
    buffer = getattr(job, "_event_buffer", None)
    first = job.last_event_seq + 1
    job.last_event_seq = first + len(events) - 1
    if buffer is not None:
        buffer.extend(events)
        if seq_saved:
            job._seq_in_db = job.last_event_seq
        return len(events)
    now = timezone.now()
    _insert_events(now, [(job.pk, first, events)])
    if not seq_saved:
        Job.objects.filter(pk=job.pk).update(last_event_seq=job.last_event_seq, updated_at=now)
    return len(events)


def start_event_buffer(job: Job) -> None:
    """From now on record_events(job, …) collects instead of writing; see flush_events."""
    job._event_buffer = []
    job._seq_in_db = job.last_event_seq


def flush_events(job: Job) -> None:
    """Write the events collected since start_event_buffer in one INSERT — with those of
    the jobs flush_with(job, …) joined to it, in the same statement — and each job's
    last_event_seq if no status UPDATE of the section already carried it."""
    jobs = [job, *job.__dict__.pop("_flush_with", [])]
    groups = []
    for each in jobs:
        events = each.__dict__.pop("_event_buffer")
        if events:
            groups.append((each.pk, each.last_event_seq - len(events) + 1, events))
    if not groups:
        return
    now = timezone.now()
    # The seqs first: while the section holds its writes (jobsite/sent_together.py) they
    # go with the events' INSERT, in its string.
    for each in jobs:
        if each._seq_in_db != each.last_event_seq:
            execute_or_hold(
                "save_last_event_seq",
                Job,
                1,
                job_id=db_value(Job._meta.pk, each.pk),
                last_event_seq=each.last_event_seq,
                updated_at=db_value(Job._meta.get_field("updated_at"), now),
            )
            each._seq_in_db = each.last_event_seq
            each.updated_at = now
    _insert_events(now, groups)


def flush_with(job: Job, other: Job) -> None:
    """`other`'s buffered events (a second job locked in `job`'s section) are written by
    `job`'s flush_events, in its INSERT: one statement, one round trip, for both."""
    job.__dict__.setdefault("_flush_with", []).append(other)


def insert_first_events(jobs: list[Job], *, after: list[Statement] = ()) -> None:
    """Insert the events collected (start_event_buffer) for jobs created in this
    transaction, whose rows already carry their last_event_seq: all of them in one INSERT
    (a COPY on PostgreSQL from COPY_FROM events). `after`: the INSERTs of those jobs and
    their steps (named_inserts.insert_statements), run first — on PostgreSQL in the same
    round trip as the events' INSERT."""
    groups = []
    for job in jobs:
        events = job.__dict__.pop("_event_buffer")
        if events:
            groups.append((job.pk, job.last_event_seq - len(events) + 1, events))
    if groups:
        _insert_events(timezone.now(), groups, after=after)
    else:
        run_together(connections[router.db_for_write(JobEvent)], list(after))


@cache
def _table_and_columns(alias: str) -> tuple[str, str, str]:
    """The table, its columns, and (PostgreSQL) the columns' array types to UNNEST."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    fields = [JobEvent._meta.get_field(name) for name in _COLUMNS]
    return (
        quote(JobEvent._meta.db_table),
        ", ".join(quote(field.column) for field in fields),
        array_parameters(fields, connection) if connection.vendor == "postgresql" else "",
    )


def _insert_events(now, groups, *, after: list[Statement] = ()):
    """Insert events as rows: `groups` is a list of (job id, seq of the first, events);
    the statements `after` are run first (insert_first_events)."""
    connection = connections[router.db_for_write(JobEvent)]
    writers = field_writers(JobEvent, connection.alias)
    job_id_value, created_value, data_value = writers["job"], writers["created_at"], writers["data"]
    now_value = created_value(now, connection)
    groups = [(job_id_value(job_id, connection), first, events) for job_id, first, events in groups]
    data_field = JobEvent._meta.get_field("data")
    table, columns, casts = _table_and_columns(connection.alias)
    if (
        connection.vendor == "postgresql"
        and sum(len(events) for _, _, events in groups) > COPY_FROM
    ):
        # COPY for a long batch (log lines): psycopg re-parses a long multi-row INSERT on every call (it caches only
        # short statements), which made PostgreSQL much slower than SQLite here. The rows
        # go in as one buffer in COPY's text format, built here: psycopg's write_row
        # passed every value through a dumper (the empty `data` through json.dumps),
        # most of the worker's CPU per line (docs/benchmarks.md), while the text format
        # only needs backslash, newline, carriage return and tab escaped in the text
        # columns, and most log lines have none of them.
        def text(value):
            if "\\" in value or "\n" in value or "\r" in value or "\t" in value:
                return (
                    value.replace("\\", "\\\\")
                    .replace("\n", "\\n")
                    .replace("\r", "\\r")
                    .replace("\t", "\\t")
                )
            return value

        labels = {}  # kind, step id and level: a few distinct values per batch

        def label(value):
            if value not in labels:
                labels[value] = text(str(value))
            return labels[value]

        tail = f"\t{now_value.isoformat()}\n"
        empty_data = text(json.dumps({}, cls=data_field.encoder))
        rows = [
            f"{job_value}\t{first_seq + offset}\t{label(event['kind'])}\t{label(event.get('step_id', ''))}"
            f"\t{label(event.get('level', ''))}\t{text(event.get('message', ''))}"
            f"\t{text(json.dumps(event['data'], cls=data_field.encoder)) if event.get('data') else empty_data}"
            f"{tail}"
            for job_value, first_seq, events in groups
            for offset, event in enumerate(events)
        ]
        run_together(connection, list(after))
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                copy.write("".join(rows))
        return
    empty_data = data_value({}, connection)
    rows = [
        (
            job_value,
            first_seq + offset,
            event["kind"],
            event.get("step_id", ""),
            event.get("level", ""),
            event.get("message", ""),
            data_value(event["data"], connection) if event.get("data") else empty_data,
            now_value,
        )
        for job_value, first_seq, events in groups
        for offset, event in enumerate(events)
    ]
    if casts and len(rows) > 1:
        # One array per column: eight parameters however many rows. psycopg parses a
        # statement once only up to 50 parameters; a finish's events and the writes it
        # held go in one string (jobsite/sent_together.py) and stay under that.
        columns_of_rows = [list(column) for column in zip(*rows, strict=True)]
        sql = f"INSERT INTO {table} ({columns}) SELECT * FROM UNNEST({casts})"
        run_together(connection, [*after, Statement(sql, columns_of_rows)])
        return
    placeholders = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"
    statements = [
        Statement(
            f"INSERT INTO {table} ({columns}) VALUES " + ", ".join([placeholders] * len(chunk)),
            [value for row in chunk for value in row],
        )
        for start in range(0, len(rows), INSERT_CHUNK)
        for chunk in [rows[start : start + INSERT_CHUNK]]
    ]
    run_together(connection, [*after, *statements])
