"""Named SQL statements, run with public APIs only. Each app keeps its own in a
`queries.sql` beside its models (jobs/queries.sql: the engine's; jobsite/queries.sql,
templates_app/queries.sql: the API's per-request reads); a name is unique across them.
Procrastinate's queries.sql is the model.

    rows = fetch("steps_of_job", job_id=db_value(Job._meta.pk, job.pk))
    steps = [model_from_row(StepRun, row) for row in rows]

`fetch` runs a statement with `cursor.execute` and returns its rows as dicts keyed by
column name; `model_from_row` turns the columns of a model into an instance with
`Model.from_db`, converted as the ORM converts them (`Field.from_db_value`,
`Field.to_python`), so the instance is the one a queryset would have given.
"""

import json
import re
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import connections, models, router
from django.utils import timezone

from jobsite import prepared_sql
from jobsite.field_writers import field_writers
from jobsite.sent_together import Statement, hold, is_holding, run_together

NAME_LINE = re.compile(r"^-- name: (\w+)(?: \((\w+)\))?\s*$")


def parse_queries(text: str, source: str = "queries.sql") -> dict[tuple[str, str], str]:
    """{(name, vendor or ""): statement} from the text of a queries file. Comment lines
    are left out of the statements."""
    queries = {}
    key = None
    for line in text.splitlines():
        match = NAME_LINE.match(line)
        if match:
            key = (match.group(1), match.group(2) or "")
            if key in queries:
                raise ValueError(f"{source}: {key[0]} ({key[1] or 'any database'}) is there twice")
            queries[key] = ""
        elif key is not None and line.strip() and not line.lstrip().startswith("--"):
            queries[key] += line + "\n"
    return {key: sql.strip() for key, sql in queries.items()}


@cache
def all_queries() -> dict[tuple[str, str], str]:
    """The statements of every installed app's queries.sql, read once."""
    queries: dict[tuple[str, str], str] = {}
    for app in apps.get_app_configs():
        path = Path(app.path) / "queries.sql"
        if not path.is_file():
            continue
        source = f"{app.label}/queries.sql"
        for key, sql in parse_queries(path.read_text(), source).items():
            if key in queries:
                raise ValueError(f"{source}: {key[0]} is named in another app's queries.sql too")
            queries[key] = sql
    return queries


def statement(name: str, vendor: str) -> str:
    """The statement `name` for a database of `vendor` (its own version if it has one)."""
    queries = all_queries()
    sql = queries.get((name, vendor)) or queries.get((name, ""))
    if sql is None:
        raise KeyError(f"no statement {name!r} in any app's queries.sql")
    return sql


def connection_for(model: type[models.Model], *, write: bool = False):
    return connections[router.db_for_write(model) if write else router.db_for_read(model)]


def db_value(field: models.Field, value):
    """`value` as `field` sends it to the database (a UUID is hex text on SQLite)."""
    return field.get_db_prep_value(value, connection_for(field.model))


def db_save_values(model: type[models.Model], values: dict) -> dict:
    """Each of `values` (field name or attname → value) as the model's field writes it (a
    dict of a JSONField as JSON), with one look-up of the connection for all of them. A
    status change writes half a dozen columns on every claim and finish; the common
    values are converted by the table the INSERTs use too (jobsite/field_writers.py),
    without the fields' layers of calls (docs/benchmarks.md, rounds 7 and 9a), and the
    others by the field itself."""
    connection = connection_for(model, write=True)
    writers = field_writers(model, connection.alias)
    return {name: writers[name](value, connection) for name, value in values.items()}


# The column names of each SELECT, per database: read from the cursor's description
# the first time only (psycopg builds a description object per column on every access:
# a third of the CPU of the status/ poll on PostgreSQL).
_columns = {}


def fetch(name: str, model: type[models.Model], **params) -> list[dict]:
    """The rows of the SELECT `name` (on the database `model` is read from), as dicts."""
    return _fetch_sets(connection_for(model), [name], params)[0]


def fetch_written(name: str, model: type[models.Model], **params) -> list[dict]:
    """The rows of the statement `name` that writes (on the database `model` is written
    to): a CTE of UPDATEs that returns their row counts."""
    return _fetch_sets(connection_for(model, write=True), [name], params)[0]


def _rows(cursor, name: str, alias: str) -> list[dict]:
    """The rows of the result the cursor is on, as dicts; the column names of `name` are
    read from the cursor's description the first time only."""
    columns = _columns.get((name, alias))
    if columns is None:
        columns = _columns[name, alias] = [column[0] for column in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def fetch_sets(names: list[str], model: type[models.Model], **params) -> list[list[dict]]:
    """The rows of each SELECT of `names`, run in that order in the current transaction.
    On PostgreSQL they go to the server as one string — one round trip instead of one
    each, which is what a statement costs there under load (docs/benchmarks.md, round
    4d) — and each result is read with `nextset`; SQLite runs them one by one."""
    return _fetch_sets(connection_for(model), names, params)


def _fetch_sets(connection, names: list[str], params: dict) -> list[list[dict]]:
    if getattr(connection, "held_writes", None):
        return _fetch_after_held(connection, names, params)
    if connection.vendor != "postgresql":
        results = []
        with connection.cursor() as cursor:
            for name in names:
                cursor.execute(statement(name, connection.vendor), params)
                results.append(_rows(cursor, name, connection.alias))
        return results
    results = []
    with connection.cursor() as cursor:
        _send(connection, cursor, names, params)
        for index, name in enumerate(names):
            if index:
                cursor.nextset()
            results.append(_rows(cursor, name, connection.alias))
    return results


def _as_statements(connection, name: str, params: dict, **last) -> list[Statement]:
    """The named statement as Statements for run_together (its PREPARE first, the first
    time on the connection); `last`: the EXECUTE's own fields."""
    pieces, prepared = prepared_sql.positional(connection, name, statement(name, "postgresql"), params)  # fmt: skip
    *prepares, (sql, values) = pieces
    took = last.pop("took", lambda rows: None)

    def took_and_prepared(rows):
        prepared()
        took(rows)

    return [*(Statement(*piece) for piece in prepares), Statement(sql, values, took=took_and_prepared, **last)]  # fmt: skip


def _fetch_after_held(connection, names: list[str], params: dict) -> list[list[dict]]:
    """_fetch_sets on a connection holding writes: they go first, in the same string."""
    results = []
    statements = []
    for name in names:
        statements += _as_statements(
            connection, name, params, returns=True, by_name=True, took=results.append
        )
    run_together(connection, statements)
    return results


def execute_or_hold(name: str, model: type[models.Model], rows: int | None, **params) -> int:
    """execute(name, model, …), or, on a connection holding its section's writes
    (jobsite/sent_together.py), the statement held, to go with the next one, where it
    must change `rows` rows: returns `rows` then. `rows` None: never held."""
    connection = connection_for(model, write=True)
    if rows is None or not is_holding(connection):
        return execute(name, model, **params)
    hold(connection, _as_statements(connection, name, params, rows=rows))
    return rows


def execute(name: str, model: type[models.Model], **params) -> int:
    """Run the statement `name` (on the database `model` is written to); returns the
    number of rows it changed."""
    connection = connection_for(model, write=True)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            _send(connection, cursor, [name], params)
        else:
            cursor.execute(statement(name, connection.vendor), params)
        return cursor.rowcount


def _send(connection, cursor, names: list[str], params: dict) -> None:
    """The statements `names` to PostgreSQL in one string, prepared once per connection
    (jobsite/prepared_sql.py); the cursor is left on the first one's result."""
    prepared_sql.send(connection, cursor, [(name, statement(name, "postgresql")) for name in names], params)  # fmt: skip


def _forget_columns(connection) -> None:
    for key in [key for key in _columns if key[1] == connection.alias]:
        del _columns[key]  # a table changed: its columns are read again


prepared_sql.on_stale.append(_forget_columns)


# --- rows into instances -------------------------------------------------------------------


def _aware(value):
    """A datetime column: SQLite returns naive UTC (and text inside JSON)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is not None and settings.USE_TZ and timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value


def _converter(field: models.Field, connection):
    """How a value of `field` read by a plain cursor becomes what the ORM would give, or
    None when it already is."""
    target = field.target_field if field.is_relation else field
    if isinstance(target, models.DateTimeField):
        # PostgreSQL's come aware (Django's psycopg loaders), SQLite's naive UTC.
        return None if connection.vendor == "postgresql" else _aware
    if isinstance(target, models.JSONField):
        return lambda value: target.from_db_value(value, None, connection)
    if isinstance(target, models.UUIDField) and connection.vendor != "postgresql":
        return target.to_python
    if isinstance(target, models.BooleanField) and connection.vendor != "postgresql":
        return target.to_python
    return None


@cache
def _layout(
    model: type[models.Model], names: tuple[str, ...], alias: str
) -> tuple[tuple, tuple, tuple]:
    """`names` in the order of the model's fields (the order Model.from_db takes values
    in), each one's converter, and the positions of the timestamps."""
    connection = connections[alias]
    fields = [field for field in model._meta.concrete_fields if field.attname in names]
    if len(fields) != len(set(names)):
        unknown = set(names) - {field.attname for field in fields}
        raise ValueError(f"{model.__name__} has no field {', '.join(sorted(unknown))}")
    return (
        tuple(field.attname for field in fields),
        tuple(_converter(field, connection) for field in fields),
        tuple(i for i, field in enumerate(fields) if isinstance(field, models.DateTimeField)),
    )


# Every column of a model, for a row read with `model.*`.
_all_names = cache(lambda model: tuple(field.attname for field in model._meta.concrete_fields))


def model_from_row(
    model: type[models.Model], row: dict, names: tuple[str, ...] | None = None
) -> models.Model:
    """An instance of `model` from the columns of `row` named in `names` (default: all
    its fields), as the ORM would have read it; the fields not read are deferred."""
    if names is None:
        names = _all_names(model)
    alias = router.db_for_read(model)
    ordered, converters, _ = _layout(model, names, alias)
    values = [row[name] for name in ordered]
    for i, convert in enumerate(converters):
        if convert is not None and values[i] is not None:
            values[i] = convert(values[i])
    return model.from_db(alias, ordered, values)


def models_from_json(model: type[models.Model], text: str) -> list[models.Model]:
    """The rows a statement packed as a JSON array of objects (one column, in the job's
    own statement), as instances. JSON fields come embedded as JSON and timestamps as
    ISO 8601 text (naive UTC from SQLite)."""
    rows = json.loads(text)
    if not rows:
        return []
    alias = router.db_for_read(model)
    ordered, _, times = _layout(model, tuple(rows[0]), alias)
    zone = UTC if settings.USE_TZ else None
    instances = []
    for row in rows:
        values = [row[name] for name in ordered]
        for i in times:
            if values[i] is not None:
                moment = datetime.fromisoformat(values[i])
                values[i] = (
                    moment
                    if moment.tzinfo is not None or zone is None
                    else moment.replace(tzinfo=zone)
                )
        instances.append(model.from_db(alias, ordered, values))
    return instances
