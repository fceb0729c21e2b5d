"""Statements of the engine's hot path, built once instead of by the ORM on every call.

A one-step job makes about twenty statements; building each through the QuerySet API
(compiling the query, resolving columns and converters) cost more CPU than PostgreSQL's
or SQLite's work for it. These helpers produce the same SQL and the same values the ORM
would — values go through each field's get_db_prep_save, rows come back through the
backend's and the field's converters and Model.from_db — but remember what can be
remembered per model, database and set of columns.
"""

from django.db import connections, router

_readers = {}
_updates = {}


def _connection(model):
    return connections[router.db_for_write(model)]


def row_reader(model, connection):
    """A function turning a row whose first columns are `model`'s concrete fields, in
    their order (what the ORM selects for a plain queryset), into a model instance.
    Extra columns after them are returned as a list beside it."""
    key = (model, connection.alias, connection.vendor)
    if key not in _readers:
        fields = model._meta.concrete_fields
        names = [field.attname for field in fields]
        converters = []
        for index, field in enumerate(fields):
            column = field.get_col(model._meta.db_table)
            for converter in connection.ops.get_db_converters(column) + column.get_db_converters(connection):
                converters.append((index, converter, column))
        width = len(names)

        def read(row, connection):
            values = list(row[:width])
            for index, converter, column in converters:
                values[index] = converter(values[index], column, connection)
            return model.from_db(connection.alias, names, values), list(row[width:])

        _readers[key] = read
    return _readers[key]


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
