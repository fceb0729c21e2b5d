"""Fewer doorbells (docs/engine.md): with eager dispatch an enqueue rings at most K tasks
a pool, and the workers that answer go down the queue; every queued step is still run —
when a worker stops going down it (draining, a step too long for its task, a backlog of
another pool) it rings for what it passed over, and the dispatcher rings again, K a
pool, for steps nobody came for (a worker killed mid-chain, a broker that lost its
tasks)."""

import time
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from django_q.brokers import get_broker

from jobs.engine.faults import requeue_vanished_steps
from jobs.engine.queue import doorbells_per_call, pool_broker
from jobs.engine.steps import EagerClaim, claim_step, finish_step
from jobs.executors.base import Outcome
from jobs.models import Job, StepRun, WorkerHost
from jobs.services import create_job, create_jobs, prepare_job
from jobs.worker import hosts, step_runner
from jobs.worker.dispatcher import dispatch_once
from tests.conftest import run_queued_tasks
from tests.jobs.helpers import ONE_NOOP, make_template, step_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("empty_broker")]


def batch(workspace, n, source=ONE_NOOP):
    template = make_template(workspace, source)
    return create_jobs([prepare_job(workspace, template=template) for _ in range(n)])


def statuses():
    return sorted(set(Job.objects.values_list("status", flat=True)))


def test_a_batch_of_100_jobs_rings_at_most_k_doorbells_and_every_job_still_runs(workspace):
    assert doorbells_per_call() == django_settings.Q_CLUSTER["workers"] == 2

    batch(workspace, 100)

    assert StepRun.objects.filter(status="queued").count() == 100
    assert get_broker().queue_size() == 2  # was 100: one a step
    run_queued_tasks()
    assert statuses() == ["succeeded"]


def test_without_eager_dispatch_every_step_keeps_its_own_doorbell(workspace, settings):
    settings.JOBSITE_EAGER_DISPATCH = False
    batch(workspace, 10)
    assert get_broker().queue_size() == 10
    run_queued_tasks()
    assert statuses() == ["succeeded"]


def test_the_number_of_doorbells_an_enqueue_rings_is_a_setting_counted_per_pool(
    workspace, settings
):
    settings.JOBSITE_DOORBELLS_PER_CALL = 3
    pool_broker("gpu").purge_queue()
    batch(workspace, 10)
    batch(
        workspace, 10, ONE_NOOP.replace("one-noop", "gpu").replace("noop}", "noop, runs_on: gpu}")
    )
    assert get_broker().queue_size() == 3
    assert pool_broker("gpu").queue_size() == 3
    pool_broker("gpu").purge_queue()


def test_a_step_nobody_came_for_is_rung_again_k_a_pass_in_order_and_runs(workspace):
    """A worker killed mid-chain, or a broker that lost its tasks: the steps are queued
    and no doorbell is left. The dispatcher rings for the K oldest, once, and the
    workers that answer run them all; a long backlog is not rung again while those K
    wait, nor reordered."""
    jobs = batch(workspace, 10)
    get_broker().purge_queue()  # the chain's worker died; its doorbells are gone
    long_ago = timezone.now() - timedelta(seconds=30)
    for n, job in enumerate(jobs):
        StepRun.objects.filter(job=job).update(queued_at=long_ago + timedelta(seconds=n))
    before = dict(StepRun.objects.values_list("pk", "queued_at"))

    assert dispatch_once()["requeued"] == 2  # was 10: one a stale step
    assert get_broker().queue_size() == 2
    assert dispatch_once()["requeued"] == 0  # its two doorbells still wait
    assert dict(StepRun.objects.values_list("pk", "queued_at")) == before
    run_queued_tasks()
    assert statuses() == ["succeeded"]


def test_without_eager_dispatch_the_dispatcher_rings_once_a_stale_step(workspace, settings):
    settings.JOBSITE_EAGER_DISPATCH = False
    batch(workspace, 5)
    get_broker().purge_queue()
    later = timezone.now() + timedelta(seconds=30)
    assert requeue_vanished_steps(0, now=later, pool="default") == 5
    assert get_broker().queue_size() == 5


def drain_this_host():
    hosts.beat()
    hosts.request_drain()
    hosts._drain_cache["checked"] = 0.0  # as once DRAIN_CHECK_SECONDS have passed


def test_a_draining_worker_rings_for_the_queued_steps_it_leaves_and_they_run_elsewhere(
    workspace,
):
    jobs = batch(workspace, 5)
    get_broker().purge_queue()  # the other steps' doorbells were answered by this chain
    claimed = claim_step(step_of(jobs[0]).pk, 1, step_runner.worker_id())
    drain_this_host()
    try:
        assert step_runner.run_claimed_step(*claimed, time.monotonic()) == ("succeeded", None)
    finally:
        WorkerHost.objects.update(drain_requested_at=None)  # the other hosts run the rest
        hosts._drain_cache.update(checked=0.0, draining=False)

    assert StepRun.objects.filter(status="queued").count() == 4
    assert get_broker().queue_size() >= 1  # the hand-off: was 0, and 4 steps stranded
    run_queued_tasks()  # another host's workers
    assert statuses() == ["succeeded"]


def test_a_step_too_long_for_the_finishing_task_gets_a_doorbell_of_its_own(workspace, settings):
    settings.Q_CLUSTER = {**django_settings.Q_CLUSTER, "timeout": 120}
    short = create_job(workspace, template=make_template(workspace, ONE_NOOP))
    long = create_job(
        workspace,
        template=make_template(
            workspace, ONE_NOOP.replace("one-noop", "long").replace("noop}", "noop, timeout: 90}")
        ),
    )
    get_broker().purge_queue()  # `long` was enqueued beyond K: no doorbell of its own
    claimed = claim_step(step_of(short).pk, 1, step_runner.worker_id())

    # 90 s + kill grace + a minute does not fit in a 120 s task: not taken, but rung.
    assert step_runner.run_claimed_step(*claimed, time.monotonic()) == ("succeeded", None)

    assert step_of(long).status == "queued"
    assert get_broker().queue_size() == 1
    run_queued_tasks()  # a fresh task runs it
    assert step_of(long).status == "succeeded"


def test_a_backlog_of_another_pool_does_not_hide_this_pools_queued_steps(workspace, settings):
    settings.JOBSITE_POOLS = ["default"]
    pool_broker("gpu").purge_queue()
    batch(workspace, 6, ONE_NOOP.replace("one-noop", "gpu").replace("noop}", "noop, runs_on: gpu}"))
    first, second = batch(workspace, 2)
    claimed_job, _ = claim_step(step_of(first).pk, 1, "w:1")
    eager = EagerClaim("w:1", pools=["default"])

    # The four oldest queued steps are gpu steps; the default one behind them is taken.
    assert finish_step(step_of(first).pk, 1, Outcome.ok({}), eager=eager, known=claimed_job)

    assert eager.step is not None and eager.step.pk == step_of(second).pk
    pool_broker("gpu").purge_queue()


# --- with real worker processes --------------------------------------------------------

CREATE_100 = """
from jobs.engine.queue import broker_queue_size
from jobs.services import create_jobs, prepare_job
from jobsite.models import Workspace
from tests.jobs.helpers import make_template
ws = Workspace.objects.create(slug="bells", name="Bells")
t = make_template(ws, '''
slug: bell
name: Bell
steps:
  - {id: only, type: noop}
''')
create_jobs([prepare_job(ws, template=t) for _ in range(100)])
print(broker_queue_size())
"""

COUNT = """
from jobs.models import Job
print(Job.objects.filter(status="succeeded").count(), Job.objects.count())
"""


@pytest.mark.slow
def test_a_real_worker_cluster_runs_a_batch_of_100_jobs_from_its_few_doorbells(tmp_path):
    from tests.worker_cluster import Deployment

    deploy = Deployment(tmp_path, workers=2)
    try:
        deploy.manage("migrate", "--noinput", "-v", "0")
        tasks = deploy.manage("shell", "-c", CREATE_100).stdout.split()[-1]
        assert tasks == "2"  # K = the cluster's two workers; was 100
        deploy.start("worker", log_name="worker")

        def done():
            return deploy.manage("shell", "-c", COUNT).stdout.split()[-2:] == ["100", "100"]

        assert deploy.wait_for(done, timeout=60), deploy.manage("shell", "-c", COUNT).stdout
    finally:
        deploy.stop_all()
