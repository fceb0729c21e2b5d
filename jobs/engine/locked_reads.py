"""The engine's hot reads: a job under its row lock, and its steps.

Every claim and every finish of a step starts with these two reads, so they are
PreparedQuery statements (jobs/engine/prepared_sql.py): compiled once per connection, rows
turned into instances with Model.from_db. Compiling the querysets each time cost more
than the database's work: about 1.3 ms of a 2 ms locked section on SQLite.

The job row comes with two extras from the same statement: `has_webhooks` (does its
workspace have an active webhook endpoint: if not, no delivery query is needed) and its
workspace's slug (for `{{ workspace.slug }}`), set on the instance as a deferred
Workspace so that reading it costs no query.
"""

from django.db.models import Exists, F, OuterRef, Subquery

from jobs.engine.prepared_sql import PreparedQuery
from jobs.models import Job, StepRun
from jobs.models.automation import WebhookEndpoint
from jobsite.models import Workspace

JOB_FIELDS = [field.attname for field in Job._meta.concrete_fields]
STEP_FIELDS = [field.attname for field in StepRun._meta.concrete_fields]


def _locked_job(**where):
    active = WebhookEndpoint.objects.filter(workspace_id=OuterRef("workspace_id"), is_active=True)
    return (
        Job.objects.select_for_update(of=("self",))
        .filter(**where)
        .annotate(has_webhooks=Exists(active), workspace_slug=F("workspace__slug"))
        .order_by()
        .values_list(*JOB_FIELDS, "has_webhooks", "workspace_slug")[:1]
    )


job_by_id = PreparedQuery(Job, lambda job_id: _locked_job(pk=job_id), job_id=Job._meta.pk)
job_by_step = PreparedQuery(
    Job,
    # order_by(): without it StepRun's default ordering joins jobs_job into the subquery.
    lambda step_run_id: _locked_job(pk=Subquery(StepRun.objects.filter(pk=step_run_id).order_by().values("job_id")[:1])),
    step_run_id=StepRun._meta.pk,
)
steps_of_job = PreparedQuery(
    StepRun,
    lambda job_id: StepRun.objects.filter(job_id=job_id).order_by("position").values_list(*STEP_FIELDS),
    job_id=Job._meta.pk,
)
active_webhook = PreparedQuery(
    WebhookEndpoint,
    lambda workspace_id: WebhookEndpoint.objects.filter(workspace_id=workspace_id, is_active=True).order_by().values_list("pk")[:1],
    workspace_id=Workspace._meta.pk,
)


def read_locked_job(job_id=None, step_run_id=None):
    """The job (by its id, or by the id of one of its steps) locked FOR UPDATE in the
    current transaction, or None. The caller holds a transaction."""
    if step_run_id is not None:
        rows = job_by_step.rows(step_run_id=step_run_id)
    else:
        rows = job_by_id.rows(job_id=Job._meta.pk.to_python(job_id))
    if not rows:
        return None
    *values, has_webhooks, workspace_slug = rows[0]
    job = Job.from_db(Job.objects.db, JOB_FIELDS, values)
    job.has_webhooks = bool(has_webhooks)
    job.workspace = Workspace.from_db(Workspace.objects.db, ["id", "slug"], [job.workspace_id, workspace_slug])
    return job


def read_steps(job):
    """The job's steps in their template order."""
    steps = [StepRun.from_db(StepRun.objects.db, STEP_FIELDS, row) for row in steps_of_job.rows(job_id=job.pk)]
    for step in steps:
        step.job = job  # the instance we hold, so step.job costs no query
    return steps


def has_active_webhooks(workspace_id):
    """Whether the workspace has an active webhook endpoint (for a job created in this
    transaction, which locked_job's statement has not read)."""
    return bool(active_webhook.rows(workspace_id=workspace_id))
