"""Statements of the hot paths, built once instead of by the ORM on every call.

A one-step job makes about twenty statements, and the reads clients poll hardest one
each; building each through the QuerySet API (compiling the query, resolving columns and
converters) cost more CPU than PostgreSQL's or SQLite's work for it. These helpers
produce the same SQL and the same values the ORM would, but remember what can be
remembered per model, database and set of columns:

- PreparedQuery: a values_list() queryset compiled once per connection with stand-in
  values, then run with new parameter values; rows come back through the ORM's own
  converters (the engine's job and step reads, the API's lean reads).
- update_where: the compare-and-set UPDATEs of the one writer, values prepared by each
  field's get_db_prep_save.
"""

import uuid

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, models, router

_updates = {}


def _connection(model):
    return connections[router.db_for_write(model)]


def _stand_in(field):
    """A value for compiling, which no real parameter equals."""
    if field.is_relation:
        field = field.target_field
    if isinstance(field, models.UUIDField):
        return uuid.uuid4()
    if isinstance(field, models.IntegerField):
        return -(uuid.uuid4().int % 10**12) - 1
    return f"prepared-query-stand-in-{uuid.uuid4().hex}"


class _Compiled:
    __slots__ = ("sql", "params", "positions", "compiler", "converters", "col_count")

    def __init__(self, sql, params, positions, compiler, converters, col_count):
        self.sql, self.params, self.positions = sql, params, positions
        self.compiler, self.converters, self.col_count = compiler, converters, col_count


class PreparedQuery:
    """`build(**values)` returns a values_list() queryset of `model`; `parameters` maps the
    name of each value to the model field it is compared with (which says how the value
    is sent to the database).

        job_steps = PreparedQuery(StepRun, lambda job_id: StepRun.objects.filter(job_id=job_id)
                                  .order_by("position").values_list("step_id", "status"),
                                  job_id=Job._meta.pk)
        job_steps.rows(job_id=some_id)  # → [("fetch", "succeeded"), …]
    """

    def __init__(self, model, build, **parameters):
        self.model = model
        self.build = build
        self.parameters = parameters

    def rows(self, **values):
        connection = connections[router.db_for_read(self.model)]
        compiled = self._compiled(connection)
        params = list(compiled.params)
        for position, name in compiled.positions:
            params[position] = self.parameters[name].get_db_prep_value(values[name], connection)
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        if compiled.converters:
            rows = compiled.compiler.apply_converters(rows, compiled.converters)
        return [tuple(row[: compiled.col_count]) for row in rows]

    def _compiled(self, connection):
        # Connections are per thread (and outlive requests): the compiled query and its
        # converters, bound to this connection, are kept on it.
        cache = connection.__dict__.setdefault("_jobsite_prepared_queries", {})
        compiled = cache.get(self)
        if compiled is None:
            compiled = cache[self] = self._compile(connection)
        return compiled

    def _compile(self, connection):
        stand_ins = {name: _stand_in(field) for name, field in self.parameters.items()}
        compiler = self.build(**stand_ins).query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        positions = []
        for name, field in self.parameters.items():
            sent = field.get_db_prep_value(stand_ins[name], connection)
            found = [(i, name) for i, param in enumerate(params) if param == sent]
            if not found:
                raise ImproperlyConfigured(f"PreparedQuery: parameter {name!r} is not in {sql}")
            positions += found
        fields = [select[0] for select in compiler.select[: compiler.col_count]]
        converters = compiler.get_converters(fields)
        return _Compiled(sql, tuple(params), positions, compiler, converters, compiler.col_count)


def _plain(value):
    return not (hasattr(value, "resolve_expression") or hasattr(value, "prepare_database_save"))


def update_where(model, where, values):
    """UPDATE model SET values… WHERE where… (each where an equality); returns the
    number of rows changed, like QuerySet.filter(**where).update(**values), which it
    falls back to for expressions, model instances or a None in `where`."""
    if not all(_plain(value) for value in values.values()) or any(value is None for value in where.values()):
        return model._base_manager.filter(**where).update(**values)
    connection = _connection(model)
    opts = model._meta
    key = (model, tuple(where), tuple(values), connection.alias, connection.vendor)
    if key not in _updates:
        quote = connection.ops.quote_name
        set_fields = [opts.get_field(name) for name in values]
        where_fields = [opts.pk if name == "pk" else opts.get_field(name) for name in where]
        sql = "UPDATE {} SET {} WHERE {}".format(
            quote(opts.db_table),
            ", ".join(f"{quote(field.column)} = %s" for field in set_fields),
            " AND ".join(f"{quote(field.column)} = %s" for field in where_fields),
        )
        _updates[key] = (sql, set_fields, where_fields)
    sql, set_fields, where_fields = _updates[key]
    params = [field.get_db_prep_save(value, connection) for field, value in zip(set_fields, values.values(), strict=True)]
    params += [field.get_db_prep_value(value, connection, prepared=False) for field, value in zip(where_fields, where.values(), strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
