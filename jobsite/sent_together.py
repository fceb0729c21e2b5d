"""Statements sent to PostgreSQL together, one string and one round trip for several.

`run_together` runs a list of `Statement`s in order in the current transaction: on
PostgreSQL as one string, each result read with `nextset` (docs/benchmarks.md, rounds 4d
and 8a); SQLite runs them one by one.

`holding_writes` is for an engine section (jobs/engine/transitions.py locked_job): under
the job's row lock a claim's or a finish's compare-and-sets cannot miss — the steps were
read under that lock, and every status change takes it — so their UPDATEs need not be
waited for one at a time. `hold` keeps each such write, with the row count it must
have, until the section's next statement, which takes them along in its own string:
its events' INSERT at the end, or a read in between (named_sql). Any other statement on
the connection meanwhile — an ORM query, the ORM broker's INSERT — first sends what is
held on its own (an execute wrapper), so nothing ever runs past a held write, and the
section sends what is left before it commits. A finish of a chain's step went from nine
round trips to four (docs/benchmarks.md, round 10).

A held write whose row count comes back different means a row changed behind the lock:
`HeldWriteMissed`, an OperationalError, rolls the transaction back as if the database
had dropped it (a worker tries its finish again), and the connection writes as before,
one statement at a time, for the next minute.
"""

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import OperationalError

from jobsite import prepared_sql

log = logging.getLogger(__name__)

# After a held write missed, the connection does not hold writes for this long.
MISSED_PAUSE_SECONDS = 60.0


@dataclass(frozen=True)
class Statement:
    """A statement not yet run: `took` gets the rows it returns (RETURNING, a SELECT) —
    as dicts by column name with `by_name` —, or None when it returns none; `rows`,
    when given, is the row count it must have."""

    sql: str
    params: list
    returns: bool = False
    took: Callable[[list | None], None] = lambda rows: None
    rows: int | None = None
    by_name: bool = False


class HeldWriteMissed(OperationalError):
    """A held write changed another number of rows than the lock promised."""


def run_together(connection, statements: list[Statement]) -> None:
    """Run what `connection` holds, then `statements`, in order, in the current
    transaction; on PostgreSQL several go as one string."""
    held = getattr(connection, "held_writes", None)
    if held:
        statements = [*held, *statements]
        held.clear()
    if not statements:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and len(statements) > 1:
            sql = ";\n".join(statement.sql for statement in statements)
            with prepared_sql.stale_guard(connection):
                cursor.execute(sql, [param for each in statements for param in each.params])
            for index, statement in enumerate(statements):
                if index:
                    cursor.nextset()
                _took(connection, cursor, statement)
            return
        for statement in statements:
            cursor.execute(statement.sql, statement.params)
            _took(connection, cursor, statement)


def _took(connection, cursor, statement: Statement) -> None:
    if statement.rows is not None and cursor.rowcount != statement.rows:
        connection.held_writes_paused_until = time.monotonic() + MISSED_PAUSE_SECONDS
        log.error(
            "a held write changed %s rows, not %s: rolled back (%s)",
            cursor.rowcount,
            statement.rows,
            statement.sql[:200],
        )
        raise HeldWriteMissed(f"a held write changed {cursor.rowcount} rows, not {statement.rows}")
    if not statement.returns:
        statement.took(None)
    elif statement.by_name:
        columns = [column[0] for column in cursor.description]
        statement.took([dict(zip(columns, row, strict=True)) for row in cursor.fetchall()])
    else:
        statement.took(cursor.fetchall())


@contextmanager
def holding_writes(connection) -> Iterator[None]:
    """Within this block (inside the section's transaction), `hold` keeps writes on
    `connection` until its next statement or the block's end. Nothing is held on
    SQLite (its statements cost no round trip), with JOBSITE_DB_HELD_WRITES off, or for
    a minute after a held write missed; a block inside another adds to the outer's."""
    if (
        connection.vendor != "postgresql"
        or not settings.JOBSITE_DB_HELD_WRITES
        or getattr(connection, "held_writes", None) is not None
        or time.monotonic() < getattr(connection, "held_writes_paused_until", 0.0)
    ):
        yield
        return
    connection.held_writes = []
    try:
        with connection.execute_wrapper(_send_held_first):
            yield
            run_together(connection, [])
    finally:
        connection.held_writes = None


def is_holding(connection) -> bool:
    return getattr(connection, "held_writes", None) is not None


def hold(connection, statements: list[Statement]) -> None:
    connection.held_writes.extend(statements)


def _send_held_first(execute, sql, params, many, context):
    """The execute wrapper of a holding connection: what it holds goes first."""
    connection = context["connection"]
    if connection.held_writes:
        run_together(connection, [])
    return execute(sql, params, many, context)
