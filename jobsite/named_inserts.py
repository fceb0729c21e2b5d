"""New, unsaved model instances into rows: `insert_instances` writes what bulk_create
would write (each field's pre_save and get_db_prep_save), without building the statement
through the ORM's compiler each time, which cost more CPU than the database's work for a
new job (docs/benchmarks.md, round 4).

What does not change from one call to the next is worked out once per model and
database (`_layout`): the columns, the statement's text, and for each field how its
value becomes a parameter — the table the UPDATEs use too (jobsite/field_writers.py:
the common values converted as the field would convert them, without its layers of
calls, anything else by the field; docs/benchmarks.md, rounds 8a and 9a).

On PostgreSQL `run_together` (jobsite/sent_together.py) sends several statements as one
string: a create's job, step and events INSERTs are one round trip
(jobs/engine/transitions.py insert_new_jobs).
"""

from dataclasses import dataclass
from functools import cache
from operator import attrgetter

from django.db import connections, models

from jobsite.field_writers import field_writers
from jobsite.named_sql import connection_for
from jobsite.sent_together import Statement, run_together

# At most this many parameters in one statement (PostgreSQL's protocol allows 65535;
# SQLite says its own limit, features.max_query_params).
MAX_PARAMS = 65535


def insert_instances(model: type[models.Model], instances: list[models.Model]) -> None:
    """INSERT new, unsaved instances of `model`, many rows per statement. A value the
    database makes (an auto-increment id) comes back with RETURNING and is set on the
    instances. A JSON value several instances share (the definition of the jobs of one
    template) is converted once, an empty one once per process."""
    run_together(connection_for(model, write=True), insert_statements(model, instances))


def insert_statements(model: type[models.Model], instances: list[models.Model]) -> list:
    """The INSERTs of insert_instances, not run (run_together runs them)."""
    if not instances:
        return []
    connection = connection_for(model, write=True)
    layout = _layout(model, connection.alias)
    converters = layout.converters
    if len(instances) > 1:
        converters = [
            _shared(convert) if index in layout.json else convert
            for index, convert in enumerate(converters)
        ]
    rows = [
        [convert(value, connection) for convert, value in zip(converters, values, strict=True)]
        for values in map(layout.values, instances)
    ]
    if layout.arrays and len(instances) > 1:
        # One array per column (as Django's own bulk insert on PostgreSQL): a short
        # statement psycopg parses once, where a long multi-row VALUES is parsed again
        # on every call (a quarter of a batch's CPU).
        columns = [list(column) for column in zip(*rows, strict=True)]
        return [_statement(layout, layout.arrays, columns, instances, connection.alias)]
    size = layout.rows_per_statement
    return [
        _statement(
            layout,
            layout.values_sql(len(chunk)),
            [value for row in rows[start : start + size] for value in row],
            chunk,
            connection.alias,
        )
        for start in range(0, len(instances), size)
        for chunk in [instances[start : start + size]]
    ]


def _statement(layout, sql: str, params: list, chunk: list, alias: str) -> Statement:
    """The INSERT of `chunk`; once it has run, the values it returned are set on the
    instances and they are saved."""

    def took(results):
        for instance, result in zip(chunk, results or [()] * len(chunk), strict=True):
            for attname, value in zip(layout.returned, result, strict=True):
                setattr(instance, attname, value)
            instance._state.adding = False
            instance._state.db = alias

    return Statement(sql, params, bool(layout.returned), took)


def new_instance(model: type[models.Model], **values) -> models.Model:
    """An unsaved instance of `model`, the one `model(**values)` makes: the same field
    values (a default for each field not given), a related object given by name set
    through its descriptor. Built from every field's value in order (`model(*values)`,
    as Model.from_db builds one), which skips __init__'s look-up of each keyword:
    half the CPU of a new job's instance (docs/benchmarks.md, round 8a)."""
    args, related = [], []
    for name, attname, relation, make, constant in _fields_in_order(model):
        if relation and name in values:
            related.append((name, values.pop(name)))
            args.append(None)  # set below, through the descriptor
        elif attname in values:
            args.append(values.pop(attname))
        else:
            args.append(constant if make is None else make())
    if values:
        raise TypeError(f"{model.__name__}() got unexpected arguments: {', '.join(values)}")
    instance = model(*args)
    for name, value in related:
        setattr(instance, name, value)
    return instance


_IMMUTABLE = (str, int, float, bool, type(None))


@cache
def _fields_in_order(model: type[models.Model]) -> tuple:
    """(name, attname, is a relation, how its default is made, or None and the default)
    of each concrete field, in the order Model.__init__ takes positional values. A
    default that is no callable and immutable ("", 0, None) is the same value each
    time: it is asked once."""
    fields = []
    for field in model._meta.concrete_fields:
        make, constant = field.get_default, None
        if not (field.has_default() and callable(field.default)):
            value = field.get_default()
            if type(value) in _IMMUTABLE:
                make, constant = None, value
        fields.append((field.name, field.attname, field.is_relation, make, constant))
    return tuple(fields)


@dataclass(frozen=True)
class _Layout:
    """The parts of `model`'s INSERT that are the same for every call on one database."""

    head: str  # INSERT INTO table (columns)
    row: str  # (%s, %s, …)
    tail: str  # RETURNING … or ""
    arrays: str  # PostgreSQL: the INSERT … SELECT * FROM UNNEST(…) statement; else ""
    rows_per_statement: int
    returned: tuple[str, ...]  # attnames set from RETURNING
    values: object  # instance → the fields' values before conversion, in column order
    converters: tuple  # (value, connection) → the parameter, one per column
    json: frozenset  # positions of JSON columns

    def values_sql(self, rows: int) -> str:
        return self.head + "VALUES " + ", ".join([self.row] * rows) + self.tail


def array_parameters(fields, connection) -> str:
    """PostgreSQL: one parameter a column, cast to an array of the column's type, for
    `INSERT … SELECT * FROM UNNEST(…)` (a statement of as many parameters as columns,
    however many rows)."""
    return ", ".join(f"(%s)::{field.db_type(connection).split('(')[0]}[]" for field in fields)


@cache
def _layout(model: type[models.Model], alias: str) -> _Layout:
    connection = connections[alias]
    concrete = model._meta.concrete_fields
    returned = [field for field in concrete if field.db_returning]
    fields = [field for field in concrete if not field.db_returning and not field.generated]
    quote = connection.ops.quote_name
    head = (
        f"INSERT INTO {quote(model._meta.db_table)} "
        f"({', '.join(quote(field.column) for field in fields)}) "
    )
    tail = f" RETURNING {', '.join(quote(field.column) for field in returned)}" if returned else ""
    arrays = ""
    if connection.vendor == "postgresql":
        arrays = head + f"SELECT * FROM UNNEST({array_parameters(fields, connection)})" + tail
    # bulk_batch_size depends on the objects only when a backend has no parameter limit;
    # pass more than any statement may take.
    limit = connection.ops.bulk_batch_size(fields, range(MAX_PARAMS))
    writers = field_writers(model, alias)
    converters = tuple(writers[field.name] for field in fields)
    return _Layout(
        head=head,
        row="(" + ", ".join(["%s"] * len(fields)) + ")",
        tail=tail,
        arrays=arrays,
        rows_per_statement=max(1, min(limit, MAX_PARAMS // len(fields))),
        returned=tuple(field.attname for field in returned),
        values=_reader(fields),
        converters=converters,
        json=frozenset(
            index for index, field in enumerate(fields) if isinstance(field, models.JSONField)
        ),
    )


def _reader(fields: list[models.Field]):
    """instance → the list of each field's pre_save value: one attrgetter for the fields
    whose pre_save only reads the attribute, the field's own pre_save for the others (an
    auto_now timestamp, a file)."""
    own = [
        (index, field)
        for index, field in enumerate(fields)
        if not (
            type(field).pre_save is models.Field.pre_save
            or (
                type(field).pre_save in (models.DateTimeField.pre_save, models.DateField.pre_save)
                and not field.auto_now
                and not field.auto_now_add
            )
        )
    ]
    getter = attrgetter(*(field.attname for field in fields))
    if len(fields) == 1:
        single = getter
        getter = lambda instance: (single(instance),)  # noqa: E731

    def values(instance):
        row = list(getter(instance))
        for index, field in own:
            row[index] = field.pre_save(instance, True)
        return row

    return values


def _shared(convert):
    """`convert` for one call of insert_instances, converting a value several instances
    share (the same object) once."""
    done: dict[int, object] = {}

    def shared(value, connection):
        key = id(value)
        if key not in done:
            done[key] = convert(value, connection)
        return done[key]

    return shared
