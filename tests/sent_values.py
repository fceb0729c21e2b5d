"""What the tests of jobsite/field_writers.py compare: sample values of every kind a
column takes, and what the database driver receives for a parameter. Used by
tests/test_named_inserts.py (the INSERT side) and tests/test_named_sql_writes.py (the
UPDATE side)."""

from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

from django.db import connection
from django.utils import timezone as django_timezone

from jobs.engine.states import JobStatus
from jobs.models import EventKind

SAMPLES = [
    None,
    "",
    "text with 'quotes', a \\ and ünïcode",
    JobStatus.QUEUED,  # a TextChoices member: a str subclass
    EventKind.STEP_STATUS,
    0,
    12,
    2**40,
    -1,
    True,
    False,
    0.0,
    37.5,
    {},
    [],
    {"a": [1, 2, {"b": None}], "ü": "ñ"},
    {"from": "running", "to": "succeeded", "attempt": 1},
    ["x", 1],
    "plain text for a JSON column",
    datetime(2026, 12, 7, 15, 1, 2, 345678, tzinfo=UTC),
    datetime(2026, 12, 7, 15, 1, 2, tzinfo=timezone(timedelta(hours=2))),  # aware, not UTC
    django_timezone.now(),
    uuid4(),
    uuid4().hex,
    str(uuid4()),
]


def as_sent(value):
    """What the driver receives: PostgreSQL's literal (psycopg's own adaptation of the
    parameter, JSON and integer wrappers included), SQLite's Python value and type."""
    if connection.vendor == "postgresql":
        return connection.ops.compose_sql("%s", [value])
    return type(value), value


def fits(field, value) -> bool:
    """Whether the field takes this value at all (get_db_prep_save, and the driver's
    adaptation, do not raise)."""
    try:
        as_sent(field.get_db_prep_save(value, connection))
    except Exception:  # noqa: BLE001 - a value of another type: not a case to compare
        return False
    return True


def count_field_conversions(monkeypatch, model_classes) -> list:
    """From now on, the name of each field whose get_db_prep_save runs (on any field
    class of the models' columns, its bases included) is appended to the list returned."""
    calls = []

    def counting(original):
        def counted(field, value, connection):
            calls.append(field.name)
            return original(field, value, connection)

        return counted

    kinds = {type(field) for model in model_classes for field in model._meta.concrete_fields}
    for klass in {base for kind in kinds for base in kind.__mro__}:
        if "get_db_prep_save" in vars(klass):
            monkeypatch.setattr(
                klass, "get_db_prep_save", counting(vars(klass)["get_db_prep_save"])
            )
    return calls
