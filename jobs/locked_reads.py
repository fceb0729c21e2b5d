"""The engine's hot reads: a job under its row lock, and its steps.

Every claim and every finish of a step starts with these two reads, so they are compiled
by the ORM once per database and then run as plain SQL, the rows turned into instances
by jobs.prepared_sql.row_reader (the fields' converters, Model.from_db). Compiling the
queryset each time cost more than the database's work: about 1.3 ms of a 2 ms locked
section on SQLite; RawQuerySet's column mapping on every call cost most of the rest.

The job row comes with two extras from the same statement: `has_webhooks` (does its
workspace have an active webhook endpoint: if not, no delivery query is needed) and its
workspace's slug (for `{{ workspace.slug }}`), set on the instance as a deferred
Workspace so that reading it costs no query.
"""

import uuid

from django.db import connections, router
from django.db.models import Exists, F, OuterRef, Subquery

from jobs.automation_models import WebhookEndpoint
from jobs.models import Job, StepRun
from jobs.prepared_sql import row_reader
from jobsite.models import Workspace

# Stand-ins compiled into the statements and swapped for the real ids at run time.
_JOB_ID = uuid.UUID(int=0x6A6F6273)
_STEP_RUN_ID = -0x6A6F6273

_compiled = {}


def _statement(name, make_queryset, placeholder, connection):
    """(sql, params, index of the placeholder in params) for this database, compiled once."""
    key = (name, connection.alias, connection.vendor)
    if key not in _compiled:
        sql, params = make_queryset().query.sql_with_params()
        params = list(params)
        _compiled[key] = (sql, params, params.index(placeholder))
    return _compiled[key]


def _job_queryset(by_step):
    if by_step:
        # order_by(): without it StepRun's default ordering joins jobs_job into the subquery.
        where = {"pk": Subquery(StepRun.objects.filter(pk=_STEP_RUN_ID).order_by().values("job_id")[:1])}
    else:
        where = {"pk": _JOB_ID}
    active = WebhookEndpoint.objects.filter(workspace_id=OuterRef("workspace_id"), is_active=True)
    return (
        Job.objects.select_for_update(of=("self",))
        .filter(**where)
        .annotate(has_webhooks=Exists(active), workspace_slug=F("workspace__slug"))
        .order_by()[:1]
    )


def read_locked_job(job_id=None, step_run_id=None):
    """The job (by its id, or by the id of one of its steps) locked FOR UPDATE in the
    current transaction, or None. The caller holds a transaction."""
    connection = connections[router.db_for_write(Job)]
    by_step = step_run_id is not None
    if by_step:
        placeholder, value = _STEP_RUN_ID, int(step_run_id)
    else:
        placeholder = Job._meta.pk.get_db_prep_value(_JOB_ID, connection)
        value = Job._meta.pk.get_db_prep_value(Job._meta.pk.to_python(job_id), connection)
    sql, params, index = _statement(("job", by_step), lambda: _job_queryset(by_step), placeholder, connection)
    params = list(params)
    params[index] = value
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    job, (has_webhooks, workspace_slug) = row_reader(Job, connection)(row, connection)
    job.has_webhooks = bool(has_webhooks)
    job.workspace = Workspace.from_db(connection.alias, ["id", "slug"], [job.workspace_id, workspace_slug])
    return job


def read_steps(job):
    """The job's steps in their template order."""
    connection = connections[router.db_for_write(StepRun)]
    placeholder = Job._meta.pk.get_db_prep_value(_JOB_ID, connection)
    queryset = lambda: StepRun.objects.filter(job_id=_JOB_ID).order_by("position")  # noqa: E731
    sql, params, index = _statement("steps", queryset, placeholder, connection)
    params = list(params)
    params[index] = Job._meta.pk.get_db_prep_value(job.pk, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    read = row_reader(StepRun, connection)
    steps = [read(row, connection)[0] for row in rows]
    for step in steps:
        step.job = job  # the instance we hold, so step.job costs no query
    return steps


def has_active_webhooks(workspace_id):
    """Whether the workspace has an active webhook endpoint (for a job created in this
    transaction, which locked_job's statement has not read)."""
    connection = connections[router.db_for_write(WebhookEndpoint)]
    pk = Workspace._meta.pk

    def queryset():
        return WebhookEndpoint.objects.filter(workspace_id=_JOB_ID, is_active=True).order_by().values("pk")[:1]

    placeholder = pk.get_db_prep_value(_JOB_ID, connection)
    sql, params, index = _statement("webhooks", queryset, placeholder, connection)
    params = list(params)
    params[index] = pk.get_db_prep_value(workspace_id, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None
