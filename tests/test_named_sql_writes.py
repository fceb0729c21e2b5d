"""jobsite/named_sql.py db_save_values converts the plain values of a status change
(text, a float, an aware UTC timestamp, NULL) itself, without the fields' layers of
calls: what it sends must be exactly what each field's get_db_prep_save would send, on
the database the tests run on, for those values and for the ones it hands to the field."""

from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest
from django.db import connection
from django.utils import timezone as django_timezone

from jobs.models import Job, StepRun
from jobsite.named_sql import db_save_values

SAMPLES = [
    None,
    "",
    "text with 'quotes' and ünïcode",
    0.0,
    37.5,
    0,
    12,
    True,
    {"a": [1, 2, {"b": None}], "ü": "ñ"},
    {"from": "running", "to": "succeeded", "attempt": 1},
    [],
    datetime(2026, 12, 7, 15, 1, 2, 345678, tzinfo=UTC),
    datetime(2026, 12, 7, 15, 1, 2, tzinfo=timezone(timedelta(hours=2))),  # aware, not UTC
    django_timezone.now(),
    uuid4(),
]


def fits(field, value) -> bool:
    """Whether the field takes this value at all (get_db_prep_save does not raise)."""
    try:
        field.get_db_prep_save(value, connection)
    except Exception:  # noqa: BLE001 - a value of another type: not a case to compare
        return False
    return True


@pytest.mark.parametrize("model", [Job, StepRun])
def test_db_save_values_sends_what_each_field_sends(model):
    compared = 0
    for field in model._meta.concrete_fields:
        for value in SAMPLES:
            if not fits(field, value):
                continue
            expected = field.get_db_prep_save(value, connection)
            got = db_save_values(model, {field.name: value})[field.name]
            assert type(got) is type(expected), (field.name, value)
            assert str(got) == str(expected), (field.name, value)
            compared += 1
    assert compared > 50


def test_a_utc_timestamp_is_stored_as_the_orm_stores_it():
    moment = datetime(2026, 12, 7, 15, 1, 2, 345678, tzinfo=UTC)
    got = db_save_values(StepRun, {"finished_at": moment, "error": "x", "progress": 1.0})
    field = StepRun._meta.get_field("finished_at")
    assert got == {
        "finished_at": field.get_db_prep_save(moment, connection),
        "error": "x",
        "progress": 1.0,
    }
    if connection.vendor == "sqlite":
        assert got["finished_at"] == "2026-12-07 15:01:02.345678"
