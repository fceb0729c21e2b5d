"""jobsite/named_sql.py db_save_values converts the values of a status change with the
table the INSERTs use (jobsite/field_writers.py): text, integers, floats, booleans,
UUIDs, JSON, aware timestamps, the ids of other rows and NULL directly, without the
fields' layers of calls. What it sends must be exactly what each field's
get_db_prep_save would send — on the database the tests run on (run them with
JOBSITE_TEST_DATABASE_URL for PostgreSQL) — for those values and for the ones it hands
to the field."""

from datetime import UTC, datetime
from uuid import UUID

import pytest
from django.db import connection
from django.utils import timezone

from jobs.engine.states import JobStatus, StepStatus
from jobs.models import Job, StepRun, Trigger
from jobs.services import prepare_job
from jobsite.named_sql import db_save_values
from tests.jobs.helpers import make_template
from tests.sent_values import SAMPLES, as_sent, count_field_conversions, fits

# The kinds of value the fast paths take, each checked on some column.
KINDS = {int: "an integer", bool: "a boolean", UUID: "a UUID", dict: "a dict", list: "a list"}


@pytest.mark.django_db  # PostgreSQL's literal is composed on a connection
@pytest.mark.parametrize("model", [Job, StepRun], ids=lambda model: model.__name__)
def test_db_save_values_sends_what_each_field_sends(model):
    compared, kinds = {}, set()
    for field in model._meta.concrete_fields:
        for value in SAMPLES:
            if not fits(field, value):
                continue
            expected = field.get_db_prep_save(value, connection)
            for name in {field.name, field.attname}:
                got = db_save_values(model, {name: value})[name]
                assert type(got) is type(expected), (name, value)
                assert as_sent(got) == as_sent(expected), (name, value)
            compared[field.name] = compared.get(field.name, 0) + (value is not None)
            kinds.add(type(value))
    assert {name for name, count in compared.items() if count >= 2} == {
        field.name for field in model._meta.concrete_fields
    }
    assert kinds >= set(KINDS), set(KINDS) - kinds


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


def every_column(instance) -> dict:
    fields = instance._meta.concrete_fields
    return {field.attname: getattr(instance, field.attname) for field in fields}


def test_a_status_change_is_converted_without_a_call_to_get_db_prep_save(workspace, monkeypatch):
    """The fast paths cover every value a job's and a step's UPDATEs write — a finish's
    and a claim's, and every column of a new job and its step (the integers, booleans,
    UUIDs, ids of other rows and JSON among them): after the first call (which converts
    the empty JSON values once), none of them goes through the field's layers of calls
    (docs/benchmarks.md, round 9a)."""
    template = make_template(workspace, "slug: one\nname: One\nsteps:\n  - {id: a, type: noop}\n")
    job = prepare_job(workspace, template=template, name="n", trigger=Trigger.CLI).job
    step = job.step_runs[0]
    now = timezone.now()
    changes = [
        (Job, every_column(job)),
        (StepRun, every_column(step)),
        (StepRun, {"status": StepStatus.RUNNING, "started_at": now, "worker_id": "w-1",
                   "lease_expires_at": now, "heartbeat_at": now}),
        (StepRun, {"status": StepStatus.SUCCEEDED, "finished_at": now, "exit_code": 0,
                   "error": "", "outputs": {"answer": 42}, "progress": 100.0,
                   "lease_expires_at": None}),
        (Job, {"status": JobStatus.SUCCEEDED, "updated_at": now, "last_event_seq": 7,
               "finished_at": now, "progress": 100.0, "completed_steps": 1, "error": "",
               "waiting_reason": "", "result_markdown": "", "result_outputs": {}}),
    ]  # fmt: skip
    for model, values in changes:
        db_save_values(model, values)
    calls = count_field_conversions(monkeypatch, [Job, StepRun])
    sent = [db_save_values(model, values) for model, values in changes]
    assert calls == []
    assert sent[0]["id"] == Job._meta.pk.get_db_prep_save(job.pk, connection)
    assert {type(value) for _, values in changes for value in values.values()} >= set(KINDS)
