"""Worker pools (SPEC §14): which host may run which step, and why a step waits.

A step's pool is fixed when its run is created (jobs/services.py): its `runs_on`, else
its template's `settings.runs_on`, else the workspace's default pool (staff only), else
"default". Its task goes to that pool's django-q2 queue (jobs/engine/queue.py), which
only the hosts of the pool consume (`manage.py worker` starts one cluster per pool of
JOBSITE_POOLS). A pool without a live host is not an error: its steps stay queued with
the reason "no worker in pool X", and start when a host of the pool appears."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Min, Q
from django.utils import timezone

from jobs.engine.queue import DEFAULT_POOL, broker_queue_size
from jobs.engine.states import StepStatus
from jobs.models import StepRun, WorkerHost

# A host whose heartbeat is older than this is not counted as a live host of its pools.
HOST_ALIVE_SECONDS = 30
NO_WORKER_PREFIX = "no worker in pool "


def host_pools() -> list[str]:
    """The pools this worker host serves (JOBSITE_POOLS; "default" when unset)."""
    return list(getattr(settings, "JOBSITE_POOLS", None) or [DEFAULT_POOL])


def may_run_here(step: StepRun) -> bool:
    """Whether this host may run `step`: only a host of the step's pool may."""
    return step.pool in host_pools()


def live_pools(now: datetime | None = None) -> set[str]:
    """Pools with at least one host whose heartbeat is recent (and that is not draining)."""
    since = (now or timezone.now()) - timedelta(seconds=HOST_ALIVE_SECONDS)
    alive = WorkerHost.objects.filter(last_seen_at__gte=since, drain_requested_at__isnull=True)
    return {
        pool
        for pools in alive.values_list("pools", flat=True)
        for pool in (pools or [DEFAULT_POOL])
    }


def no_worker_reason(pool: str) -> str:
    return f"{NO_WORKER_PREFIX}{pool}"


def mark_pool_waits(now: datetime | None = None) -> int:
    """Dispatcher duty: queued steps of a pool without a live host get the reason "no
    worker in pool X"; the reason is cleared once a host of the pool is alive (or the
    step moved on). Returns how many steps got the reason this pass."""
    alive = live_pools(now)
    waiting = StepRun.objects.filter(status=StepStatus.QUEUED).exclude(pool__in=alive)
    marked = 0
    for pool in waiting.values_list("pool", flat=True).distinct().order_by():
        marked += (
            waiting.filter(pool=pool)
            .exclude(waiting_reason=no_worker_reason(pool))
            .update(waiting_reason=no_worker_reason(pool))
        )
    StepRun.objects.filter(waiting_reason__startswith=NO_WORKER_PREFIX).filter(
        ~Q(status=StepStatus.QUEUED) | Q(pool__in=alive)
    ).update(waiting_reason="")
    return marked


def pools_known() -> list[str]:
    """Every pool worth showing: "default", JOBSITE_KNOWN_POOLS, every pool a host has
    declared, and every pool a waiting or running step names."""
    pools = {DEFAULT_POOL, *(getattr(settings, "JOBSITE_KNOWN_POOLS", None) or [])}
    for declared in WorkerHost.objects.values_list("pools", flat=True):
        pools.update(declared or [DEFAULT_POOL])
    for status in (StepStatus.QUEUED, StepStatus.RUNNING, StepStatus.RETRYING):
        pools.update(
            StepRun.objects.filter(status=status)
            .values_list("pool", flat=True)
            .distinct()
            .order_by()
        )
    return sorted(pools)


def active_steps_per_pool() -> dict[tuple[str, str], int]:
    """Running and queued steps per (pool, status). One count a status: each reads its
    status's partial index (models: StepRun.Meta.indexes), where `status__in` would
    read the whole table."""
    return {
        (pool, status): n
        for status in (StepStatus.RUNNING, StepStatus.QUEUED)
        for pool, n in StepRun.objects.filter(status=status)
        .values_list("pool")
        .annotate(n=Count("id"))
        .order_by()
    }


def oldest_queued_per_pool() -> dict[str, datetime]:
    return dict(
        StepRun.objects.filter(status=StepStatus.QUEUED)
        .values_list("pool")
        .annotate(at=Min("queued_at"))
        .order_by()
    )


def pool_overview(now: datetime | None = None) -> list[dict]:
    """Per pool, for the cluster page: live hosts, running and queued steps, the broker
    queue's depth and the age of the oldest queued step."""
    now = now or timezone.now()
    since = now - timedelta(seconds=HOST_ALIVE_SECONDS)
    hosts_of: dict[str, list[str]] = {}
    for host_id, declared in WorkerHost.objects.filter(last_seen_at__gte=since).values_list(
        "host_id", "pools"
    ):
        for pool in declared or [DEFAULT_POOL]:
            hosts_of.setdefault(pool, []).append(host_id)
    counts = active_steps_per_pool()
    oldest = oldest_queued_per_pool()
    return [
        {
            "pool": pool,
            "hosts": sorted(hosts_of.get(pool, [])),
            "running": counts.get((pool, StepStatus.RUNNING), 0),
            "queued": counts.get((pool, StepStatus.QUEUED), 0),
            "broker_queue": broker_queue_size(pool),
            "oldest_queued_age": (now - oldest[pool]) if oldest.get(pool) else None,
        }
        for pool in pools_known()
    ]


def queued_pools() -> list[str]:
    """Pools that have queued steps (each pool's queue is checked for vanished tasks)."""
    return sorted(
        set(
            StepRun.objects.filter(status=StepStatus.QUEUED)
            .values_list("pool", flat=True)
            .distinct()
            .order_by()
        )
    )
