"""Prepared statements on PostgreSQL, for jobsite/named_sql.py.

PostgreSQL parses, analyses and plans every statement it is sent; for the engine's short
statements that was a third of the server's CPU for a job, more than running them
(docs/benchmarks.md, round 8b). With JOBSITE_DB_PREPARED_STATEMENTS (the default), each
named statement is prepared (SQL `PREPARE`) once per connection, in the string of its
first use, and afterwards sent as `EXECUTE`: still one round trip, and several in one
string (named_sql.fetch_sets) as before. SQL-level rather than psycopg's own
(`prepare_threshold`), which needs server-side binding, where one string can hold only
one statement.

PREPARE outlives a rollback, so a name counts as prepared on a connection only once a
string that prepared it ran without error; a string that failed prepares under a new
name next time (what it left on the server is a few unused statements, gone with the
session). Behind a pooler that shares sessions between clients (PgBouncer in
transaction mode) the setting must be off (docs/deploy.md).
"""

import itertools
import re
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import DatabaseError, OperationalError

PARAM = re.compile(r"%\((\w+)\)s")
# "cached plan must not change result type" (feature_not_supported: a migration changed
# the columns of a prepared `SELECT table.*`) and "prepared statement does not exist"
# (invalid_sql_statement_name: a pooler or DISCARD ALL dropped it).
STALE = {"0A000", "26000"}

# psycopg connection → {statement name: its name on the server}
_prepared: "weakref.WeakKeyDictionary[object, dict[str, str]]" = weakref.WeakKeyDictionary()
_generation = itertools.count(1)


class StaleStatements(OperationalError):
    """The server's copy of a prepared statement is gone or out of date. An
    OperationalError, as when the database drops a transaction: the worker waits it out
    and tries again (jobs/worker/step_runner.py), and the connection prepares again."""


def parametrized(sql: str) -> tuple[str, tuple[str, ...]]:
    """`sql` with its named parameters as $1, $2, … (the body of a PREPARE), and the
    parameters' names in that order."""
    order: list[str] = []

    def number(match):
        if match.group(1) not in order:
            order.append(match.group(1))
        return f"${order.index(match.group(1)) + 1}"

    return PARAM.sub(number, sql), tuple(order)


_parametrized = {}


def send(connection, cursor, statements: list[tuple[str, str]], params: dict) -> None:
    """Run `statements` ((name, SQL) pairs) in one string on PostgreSQL, prepared when
    the setting says so; the cursor is left on the first statement's result."""
    if not settings.JOBSITE_DB_PREPARED_STATEMENTS:
        cursor.execute(";\n".join(sql for _, sql in statements), params)
        return
    prepared = _prepared.setdefault(connection.connection, {})
    new, prepares, executes = {}, [], []
    for name, sql in statements:
        if sql not in _parametrized:
            _parametrized[sql] = parametrized(sql)
        body, order = _parametrized[sql]
        server_name = prepared.get(name) or new.get(name)
        if server_name is None:
            server_name = new[name] = f"jobsite_{name}_{next(_generation)}"
            prepares.append(f"PREPARE {server_name} AS {body}")
        arguments = ", ".join(f"%({param})s" for param in order)
        executes.append(
            f"EXECUTE {server_name}({arguments})" if order else f"EXECUTE {server_name}"
        )
    with stale_guard(connection):
        cursor.execute(";\n".join(prepares + executes), params)
    prepared.update(new)
    for _ in prepares:
        cursor.nextset()


# Called with the connection when its prepared statements are found out of date (what
# was learnt of their results goes with them: jobsite/named_sql.py).
on_stale = []


@contextmanager
def stale_guard(connection) -> Iterator[None]:
    """Around the execution of a string with EXECUTEs: the server's copies out of date
    are forgotten (prepared again next time) and the error raised as StaleStatements."""
    try:
        yield
    except DatabaseError as exc:
        if getattr(exc.__cause__, "sqlstate", None) in STALE:
            _prepared.pop(connection.connection, None)
            for forget in on_stale:
                forget(connection)
            raise StaleStatements(f"prepared statement out of date: {exc}") from exc
        raise


def positional(connection, name: str, sql: str, params: dict):
    """The named statement `name` (`sql`, `params` by name) as positional pieces for a
    string of several statements, each a (SQL, values) pair — its PREPARE first when
    the connection has not prepared it —, and what to call once that string has run
    (it counts as prepared from then on)."""
    if not settings.JOBSITE_DB_PREPARED_STATEMENTS:
        names = PARAM.findall(sql)
        return [(PARAM.sub("%s", sql), [params[name] for name in names])], lambda: None
    if sql not in _parametrized:
        _parametrized[sql] = parametrized(sql)
    body, order = _parametrized[sql]
    prepared = _prepared.setdefault(connection.connection, {})
    server_name = prepared.get(name)
    pieces, done = [], lambda: None
    if server_name is None:
        server_name = f"jobsite_{name}_{next(_generation)}"
        pieces.append((f"PREPARE {server_name} AS {body}", []))

        def done():
            _prepared.setdefault(connection.connection, {})[name] = server_name

    arguments = ", ".join(["%s"] * len(order))
    pieces.append(
        (
            f"EXECUTE {server_name}({arguments})" if order else f"EXECUTE {server_name}",
            [params[param] for param in order],
        )
    )
    return pieces, done
