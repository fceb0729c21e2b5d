"""Worker hosts: who is alive (a heartbeat written by each host's dispatcher) and who
is draining (finishing its running steps, claiming no new ones)."""

import logging
import os
import socket
import time

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from jobs.engine.pools import host_pools
from jobs.engine.states import StepStatus
from jobs.models import StepRun, WorkerHost

log = logging.getLogger(__name__)

_drain_cache = {"checked": 0.0, "draining": False}
DRAIN_CHECK_SECONDS = 1.0


def this_host() -> str:
    return settings.JOBSITE_WORKER_ID


def beat(host_id: str | None = None) -> None:
    """Record that this host is alive, and the pools it serves (JOBSITE_POOLS)."""
    host_id = host_id or this_host()
    now = timezone.now()
    pools = host_pools()
    updated = WorkerHost.objects.filter(host_id=host_id).update(
        last_seen_at=now, pid=os.getpid(), workers=settings.JOBSITE_WORKERS, pools=pools
    )
    if not updated:
        WorkerHost.objects.get_or_create(
            host_id=host_id,
            defaults={
                "hostname": socket.gethostname(), "pid": os.getpid(), "workers": settings.JOBSITE_WORKERS,
                "last_seen_at": now, "pools": pools,
            },
        )  # fmt: skip


def host_started(host_id: str | None = None) -> None:
    """A (re)started host is not draining any more."""
    host_id = host_id or this_host()
    beat(host_id)
    WorkerHost.objects.filter(host_id=host_id).update(
        drain_requested_at=None, started_at=timezone.now()
    )


def request_drain(host_id: str | None = None) -> int:
    return WorkerHost.objects.filter(host_id=host_id or this_host()).update(
        drain_requested_at=timezone.now()
    )


def drain_quietly(host_id: str | None = None) -> None:
    """request_drain for a host that is stopping: a database that does not answer only
    costs the drain flag (running steps still get their grace), never the stop itself."""
    try:
        close_old_connections()
        request_drain(host_id)
    except Exception:  # noqa: BLE001 - stopping must not fail on the database
        log.warning(
            "could not mark host %s as draining; stopping anyway",
            host_id or this_host(),
            exc_info=True,
        )


def is_draining() -> bool:
    """Whether this host was told to drain; read at most once a second per process."""
    now = time.monotonic()
    if now - _drain_cache["checked"] >= DRAIN_CHECK_SECONDS:
        _drain_cache["draining"] = WorkerHost.objects.filter(
            host_id=this_host(), drain_requested_at__isnull=False
        ).exists()
        _drain_cache["checked"] = now
    return _drain_cache["draining"]


def running_steps_on(host_id: str | None = None) -> int:
    return StepRun.objects.filter(
        status=StepStatus.RUNNING, worker_id__startswith=f"{host_id or this_host()}:"
    ).count()
