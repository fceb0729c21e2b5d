"""Ringing the doorbell: handing a step to the workers through django-q2.

A task carries only (step_run_id, attempt). The database is the truth; a lost or
duplicated task is harmless because the worker claims the step with a compare-and-set
and the dispatcher re-enqueues steps whose task vanished.
"""

import os
import uuid
from collections import Counter
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.brokers import Broker, get_broker
from django_q.conf import Conf
from django_q.models import OrmQ
from django_q.signals import pre_enqueue
from django_q.signing import SignedPackage
from django_q.tasks import async_task

from jobs.engine.per_process import per_process
from jobsite.named_inserts import insert_instances, new_instance

RUN_STEP_TASK = "jobs.worker.step_runner.run_step"
DEFAULT_POOL = "default"


def queue_name(pool: str = DEFAULT_POOL) -> str:
    """The django-q2 queue of a worker pool (SPEC §14): one Redis list, or one ORM queue
    name, per pool. The default pool keeps the configured name (Q_CLUSTER["name"]), so a
    deployment without pools is unchanged; another pool's is "<name>.<pool>"."""
    base = settings.Q_CLUSTER["name"]
    return base if pool == DEFAULT_POOL else f"{base}.{pool}"


_pool_brokers: dict = {"pid": None, "brokers": {}}


def pool_broker(pool: str = DEFAULT_POOL) -> Broker:
    """This process's broker for a pool's queue (made once per process and pool)."""
    if _pool_brokers["pid"] != os.getpid():
        _pool_brokers.update(pid=os.getpid(), brokers={})
    brokers = _pool_brokers["brokers"]
    if pool not in brokers:
        brokers[pool] = get_broker(list_key=queue_name(pool))
    return brokers[pool]


@per_process
def shared_broker() -> Broker:
    """This process's django-q2 broker. async_task() without one builds a new broker for
    every task, and with Redis that is a new connection pool and connection each time
    (mostly redis-py reading its own package metadata; the cost is in docs/benchmarks.md)."""
    return get_broker()


def enqueue_task(func: str, *args: object, **kwargs: object) -> str:
    return async_task(func, *args, broker=shared_broker(), **kwargs)


def _package(func, args, name, now):
    """The signed task django-q2's async_task would make (with no hook; the cluster's
    ack_failures), without its per-call broker lookup and human-readable id."""
    task = {
        "id": uuid.uuid4().hex,
        "name": name,
        "func": func,
        "args": args,
        "hook": None,
        "kwargs": {},
        "started": now,
    }
    if Conf.ACK_FAILURES:
        task["ack_failure"] = True
    pre_enqueue.send(sender="django_q", task=task)
    return SignedPackage.dumps(task)


def _step_package(step_run_id, attempt, now):
    return _package(RUN_STEP_TASK, (step_run_id, attempt), f"step-{step_run_id}-{attempt}", now)


def _put(packages: dict[str, list[str]], now) -> None:
    """Put signed tasks on queues ({queue key: packages}): one INSERT of OrmQ rows with
    the ORM broker, one pipeline of RPUSHes (one per queue) with Redis."""
    if settings.JOBSITE_BROKER == "orm":
        insert_instances(
            OrmQ,
            [
                new_instance(OrmQ, key=key, payload=package, lock=now)
                for key, key_packages in packages.items()
                for package in key_packages
            ],
        )
        return
    pipeline = shared_broker().connection.pipeline(transaction=False)
    for key, key_packages in packages.items():
        pipeline.rpush(key, *key_packages)
    pipeline.execute()


def _push(items):
    """Put the step tasks on their pools' queues (_put)."""
    now = timezone.now()
    packages: dict[str, list[str]] = {}
    for step_run_id, attempt, pool in items:
        key = pool_broker(pool).list_key
        packages.setdefault(key, []).append(_step_package(step_run_id, attempt, now))
    _put(packages, now)


def doorbells_per_call() -> int:
    """K: the most doorbells one enqueue rings per pool (JOBSITE_DOORBELLS_PER_CALL, by
    default the cluster's worker count: enough to wake every worker of a host)."""
    return max(1, settings.JOBSITE_DOORBELLS_PER_CALL or settings.Q_CLUSTER["workers"])


def doorbells(items: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """The steps whose doorbell is rung: with eager dispatch, the first K of each pool —
    a worker that answers one goes down that pool's queue, a finish at a time, until
    nothing it may take is left (docs/engine.md, "Fewer doorbells"); without it, every
    step's, since a worker then runs only the step its task names."""
    if not settings.JOBSITE_EAGER_DISPATCH:
        return items
    limit, rung = doorbells_per_call(), Counter()
    kept = []
    for item in items:
        if rung[item[2]] < limit:
            rung[item[2]] += 1
            kept.append(item)
    return kept


def enqueue_steps(items: Iterable[tuple[int, int, str]]) -> None:
    """Enqueue the tasks of many steps — (step_run_id, attempt, pool) each — on their
    pools' queues in one go, as part of the current transaction's outcome: with eager
    dispatch at most K a pool (doorbells), else one a step.

    With the ORM broker the task rows are written in the same transaction as the status
    changes, so a crash can never separate the two. With Redis they are sent on commit
    (a task sent before commit could be claimed before its row is visible)."""
    items = list(items)
    if not items:
        return
    if Conf.SYNC:  # django-q2 runs a task in the caller when told to: keep that
        for step_run_id, attempt, pool in items:
            async_task(
                RUN_STEP_TASK, step_run_id, attempt, task_name=f"step-{step_run_id}-{attempt}",
                hook=None, broker=pool_broker(pool),
            )  # fmt: skip
        return
    items = doorbells(items)
    if settings.JOBSITE_BROKER == "orm":
        _push(items)
    else:
        # robust: when Redis is away the status changes are already committed; raising
        # here would fail the caller (an API request, a finishing step) for nothing and
        # skip the other on-commit hooks. The dispatcher re-enqueues the steps instead.
        transaction.on_commit(lambda: _push(items), robust=True)


def enqueue_step(step_run_id: int, attempt: int, pool: str = DEFAULT_POOL) -> None:
    """Enqueue one step's task (enqueue_steps)."""
    enqueue_steps([(step_run_id, attempt, pool)])


def enqueue_tasks(func: str, calls: list[tuple[tuple, str]]) -> None:
    """Enqueue many tasks of `func` — (args, task name) each — on the default queue at
    once (_put; enqueue_task is a statement or a round trip per task)."""
    if not calls:
        return
    if Conf.SYNC:
        for args, name in calls:
            enqueue_task(func, *args, task_name=name)
        return
    now = timezone.now()
    _put({shared_broker().list_key: [_package(func, args, name, now) for args, name in calls]}, now)


def broker_queue_size(pool: str | None = None) -> int | None:
    """Tasks waiting in the broker: one pool's queue, or (no pool) the default queue."""
    try:
        return (pool_broker(pool) if pool else shared_broker()).queue_size()
    except Exception:  # noqa: BLE001 - an unreachable broker is reported as unknown
        return None
