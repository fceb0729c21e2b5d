"""jobsite/named_inserts.py converts the values of a new row itself, with what it can
work out once per model and database: what it sends must be exactly what each field's
pre_save and get_db_prep_save would send — on the database the tests run on (run them
with JOBSITE_TEST_DATABASE_URL for PostgreSQL) — and the rows it writes the ones
bulk_create writes."""

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from django.db import IntegrityError, connection
from django_q.models import OrmQ

from jobs.engine.states import JobStatus, StepStatus
from jobs.models import Artifact, Job, JobEvent, StepRun, Trigger
from jobs.services import create_job, prepare_job
from jobsite.named_inserts import _layout, insert_instances, new_instance
from tests.jobs.helpers import make_template
from tests.sent_values import SAMPLES, as_sent, count_field_conversions, fits

MODELS = [Job, StepRun, JobEvent, OrmQ, Artifact]


def columns(model):
    return [f for f in model._meta.concrete_fields if not f.db_returning and not f.generated]


@pytest.mark.django_db
@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_each_column_is_sent_as_its_field_sends_it(model):
    layout = _layout(model, connection.alias)
    compared = 0
    for field, convert in zip(columns(model), layout.converters, strict=True):
        for value in SAMPLES:
            if not fits(field, value):
                continue
            expected = field.get_db_prep_save(value, connection)
            got = convert(value, connection)
            assert type(got) is type(expected), (field.name, value)
            assert as_sent(got) == as_sent(expected), (field.name, value)
            compared += 1
    assert compared >= 3 * len(layout.converters)


@pytest.fixture
def template(workspace):
    return make_template(workspace, "slug: two\nname: Two\nsteps:\n  - {id: a, type: noop}\n  - {id: b, type: noop, needs: [a], retries: 2}\n")  # fmt: skip


def new_job(workspace, template, **extra):
    job = prepare_job(workspace, template=template, name="n", trigger=Trigger.CLI, **extra).job
    moment = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    job.status, job.queued_at, job.created_at, job.updated_at = (
        JobStatus.QUEUED,
        moment,
        moment,
        moment,
    )
    job.step_runs[0].status, job.step_runs[0].queued_at = StepStatus.QUEUED, moment
    return job


def test_each_field_is_read_as_its_pre_save_reads_it(workspace, template):
    job = new_job(workspace, template)
    instances = {Job: job, StepRun: job.step_runs[1], OrmQ: OrmQ(key="k", payload="p")}
    for model, instance in instances.items():
        fields = columns(model)
        assert _layout(model, connection.alias).values(instance) == [
            field.pre_save(instance, True) for field in fields
        ]


def row_of(model, pk):
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [model._meta.pk.get_db_prep_value(pk, connection)])  # fmt: skip
        names = [column[0] for column in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


@pytest.mark.parametrize("many", [False, True], ids=["one row", "three rows"])
def test_the_rows_are_the_ones_bulk_create_writes(workspace, template, many):
    ours = [new_job(workspace, template, inputs={"in": ["ü"]}) for _ in range(3 if many else 1)]
    theirs = new_job(workspace, template, inputs={"in": ["ü"]})
    insert_instances(Job, ours)
    Job.objects.bulk_create([theirs])
    insert_instances(StepRun, [step for job in ours for step in job.step_runs])
    StepRun.objects.bulk_create(theirs.step_runs)
    for job in ours:
        mine = row_of(Job, job.pk)
        assert mine.pop("id") != (django := row_of(Job, theirs.pk)).pop("id")
        assert mine == django
        for step, other in zip(job.step_runs, theirs.step_runs, strict=True):
            assert step.pk is not None and not step._state.adding
            mine, django = row_of(StepRun, step.pk), row_of(StepRun, other.pk)
            assert mine.pop("id") != django.pop("id")
            assert mine.pop("job_id") != django.pop("job_id")
            assert mine == django
    assert [Job.objects.get(pk=job.pk).inputs for job in ours] == [{"in": ["ü"]}] * len(ours)


def test_a_new_job_goes_in_without_a_call_to_get_db_prep_save(workspace, template, monkeypatch):
    """The fast path covers every value of a new job and its steps: after the first job
    (which converts the empty JSON values once), none of them goes through the field's
    layers of calls (docs/benchmarks.md, round 8a)."""
    first, job = new_job(workspace, template), new_job(workspace, template)
    insert_instances(Job, [first])
    insert_instances(StepRun, first.step_runs)
    calls = count_field_conversions(monkeypatch, [Job, StepRun])
    insert_instances(Job, [job])
    insert_instances(StepRun, job.step_runs)
    assert calls == []
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED


def state_of(instance):
    """Everything an instance holds: its attributes, its _state and the related objects
    it has cached, with each default made by a callable (a new id, now, a new {}) by type."""
    callable_defaults = {
        field.attname for field in instance._meta.concrete_fields if callable(field.default)
    }
    values = {
        name: type(value) if name in callable_defaults else value
        for name, value in vars(instance).items()
        if name != "_state"
    }
    state = instance._state
    return values, state.adding, state.db, dict(state.fields_cache)


def test_new_instance_is_the_one_the_model_makes_from_the_same_arguments(workspace, template):
    version = template.current_version
    job = Job(workspace=workspace, template=template, definition={}, name="n")
    cases = [
        (Job, {"workspace": workspace, "template": template, "template_version": version,
               "definition": version.definition, "name": "n", "trigger": Trigger.CLI,
               "inputs": {}, "total_steps": 2, "timeout_seconds": None, "attempt": 1}),
        (Job, {"id": uuid4(), "workspace_id": workspace.pk, "template": None, "definition": {}}),
        (StepRun, {"job": job, "step_id": "a", "position": 0, "type": "noop", "needs": ["b"],
                   "max_attempts": 3, "idempotent": True, "pool": "default"}),
        (OrmQ, {"key": "k", "payload": "p", "lock": datetime(2026, 1, 2, tzinfo=UTC)}),
    ]  # fmt: skip
    for model, values in cases:
        made = new_instance(model, **values)
        assert state_of(made) == state_of(model(**values)), model
        assert made._state.adding and made.pk is not None or model is not Job
    with pytest.raises(TypeError, match="unexpected"):
        new_instance(StepRun, job=job, colour="red")


@pytest.mark.django_db(transaction=True)
def test_a_job_whose_id_is_taken_raises_integrity_error_and_writes_nothing(workspace, template):
    """The UI's double submit relies on it (jobs/views/job_actions.py create_once): on
    PostgreSQL the job's INSERT shares its round trip with its steps' and events' INSERTs,
    and the error must still come from that one call, with nothing of the job written."""
    first = create_job(workspace, template=template)
    counts = StepRun.objects.count(), JobEvent.objects.count()
    with pytest.raises(IntegrityError):
        create_job(workspace, template=template, job_id=first.pk)
    assert (StepRun.objects.count(), JobEvent.objects.count()) == counts
    assert Job.objects.count() == 1
