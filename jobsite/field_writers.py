"""How a model field's Python value becomes the parameter the database driver gets: one
table per model and database (`field_writers`), used by the UPDATEs of a status change
(jobsite/named_sql.py db_save_values) and by the INSERTs of new rows
(jobsite/named_inserts.py).

The common values — text (a TextChoices member too), an integer, a float, a boolean, a
UUID, an aware timestamp, a dict or list for JSON, the id of another row, NULL — are
converted here as the field's get_db_prep_save would convert them, without its layers of
calls; anything else (an expression, a UUID's text, on SQLite a timestamp in another
time zone) goes through the field (docs/benchmarks.md, rounds 7, 8a and 9a; tests/test_named_sql_writes.py
and tests/test_named_inserts.py compare both on every column of the hot models).
"""

import uuid
from datetime import UTC, datetime
from functools import cache

from django.conf import settings
from django.db import connections, models
from django.db.backends.base.operations import BaseDatabaseOperations

_TEXT = (models.CharField, models.TextField, models.URLField, models.SlugField)
_INTEGER = (
    models.IntegerField,
    models.PositiveIntegerField,
    models.PositiveBigIntegerField,
    models.BigIntegerField,
    models.SmallIntegerField,
    models.PositiveSmallIntegerField,
)
_AUTO = (models.AutoField, models.BigAutoField, models.SmallAutoField)


@cache
def field_writers(model: type[models.Model], alias: str) -> dict:
    """{field name and attname: writer(value, connection) → parameter} for each concrete
    field of `model` on the database `alias`."""
    connection = connections[alias]
    writers = {}
    for field in model._meta.concrete_fields:
        writers[field.name] = writers[field.attname] = field_writer(field, connection)
    return writers


def field_writer(field: models.Field, connection):
    """A (value, connection) → parameter for `field` on `connection`'s kind of database:
    the field's own get_db_prep_save, with the common values converted directly."""
    target = field.target_field if isinstance(field, models.ForeignKey) else field
    kind = type(target)

    def by_field(value, connection):
        return field.get_db_prep_save(value, connection)

    if kind in _TEXT:
        # CharField/TextField.to_python: any str (a TextChoices member too) as it is.
        return lambda value, connection: (
            value if value is None or isinstance(value, str) else by_field(value, connection)
        )
    if kind is models.FloatField:
        return lambda value, connection: (
            value if value is None or type(value) is float else by_field(value, connection)
        )
    if kind in _INTEGER:
        return _integer_writer(target, connection, by_field)
    if kind in _AUTO and (
        type(connection.ops).validate_autopk_value is BaseDatabaseOperations.validate_autopk_value
    ):  # an id of this row or another (a ForeignKey): an integer as it is
        return lambda value, connection: (
            value if value is None or type(value) is int else by_field(value, connection)
        )
    if kind is models.BooleanField:
        return lambda value, connection: (
            value if value is None or type(value) is bool else by_field(value, connection)
        )
    if kind is models.UUIDField:
        native = connection.features.has_native_uuid_field
        return lambda value, connection: (
            None
            if value is None
            else (value if native else value.hex)
            if type(value) is uuid.UUID
            else by_field(value, connection)
        )
    if kind is models.DateTimeField and field is target:
        return _timestamp_writer(connection, by_field)
    if kind is models.JSONField and field is target:
        return _json_writer(field, by_field)
    if field is not target:  # a ForeignKey: NULL as it is
        return lambda value, connection: None if value is None else by_field(value, connection)
    return by_field


def _integer_writer(target: models.Field, connection, by_field):
    """An int as IntegerField.get_db_prep_value writes it: as it is, or wrapped by the
    backend's adapt_integerfield_value (PostgreSQL's psycopg types)."""
    adapt = type(connection.ops).adapt_integerfield_value
    if adapt is BaseDatabaseOperations.adapt_integerfield_value:  # as it is
        return lambda value, connection: (
            value if value is None or type(value) is int else by_field(value, connection)
        )
    internal = target.get_internal_type()
    return lambda value, connection: (
        None
        if value is None
        else connection.ops.adapt_integerfield_value(value, internal)
        if type(value) is int
        else by_field(value, connection)
    )


def _timestamp_writer(connection, by_field):
    """An aware timestamp as the backend's adapt_datetimefield_value writes it."""
    if connection.vendor == "sqlite" and settings.USE_TZ and connection.timezone == UTC:
        # SQLite stores a timestamp as the text of its naive UTC value.
        return lambda value, connection: (
            None
            if value is None
            else str(value.replace(tzinfo=None))
            if type(value) is datetime and value.tzinfo is UTC
            else by_field(value, connection)
        )
    if connection.vendor == "postgresql" and settings.USE_TZ:
        # PostgreSQL takes an aware timestamp as it is.
        return lambda value, connection: (
            value
            if value is None or (type(value) is datetime and value.utcoffset() is not None)
            else by_field(value, connection)
        )
    return by_field


def _json_writer(field: models.JSONField, by_field):
    """A dict or a list as JSONField.get_db_prep_save writes it (the backend's
    adapt_json_value with the field's encoder); an empty one converted once: `{}` is
    the default of most JSON columns. The empty values converted are private to this
    writer, so nothing can change them after."""
    empty: dict = {}

    def write(value, connection):
        if type(value) is dict or type(value) is list:
            if value:
                return connection.ops.adapt_json_value(value, field.encoder)
            if type(value) not in empty:
                empty[type(value)] = by_field(type(value)(), connection)
            return empty[type(value)]
        return None if value is None else by_field(value, connection)

    return write
