"""The dispatcher/reaper loop that runs beside the workers (SPEC §7).

Each pass does every duty once; each duty is a set of compare-and-set changes, so two
dispatchers running at once (one per worker host) are harmless.
"""

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections

from jobs.automation import notifications, retention, schedules, webhooks
from jobs.engine.faults import (
    cancel_timed_out_jobs,
    enqueue_due_retries,
    reap_expired_leases,
    requeue_vanished_steps,
)
from jobs.engine.lifecycle import start_waiting_jobs
from jobs.engine.pools import mark_pool_waits, queued_pools
from jobs.engine.queue import broker_queue_size
from jobs.uploads import expire_uploads
from jobs.worker import hosts as worker_hosts

log = logging.getLogger(__name__)


def dispatch_once() -> dict[str, int]:
    """One pass. Returns what it did, for logs and tests."""
    worker_hosts.beat()
    return {
        "reaped": reap_expired_leases(),
        "retried": enqueue_due_retries(),
        "timed_out": cancel_timed_out_jobs(),
        "started": start_waiting_jobs(),
        "requeued": sum(
            requeue_vanished_steps(broker_queue_size(pool), pool=pool) for pool in queued_pools()
        ),
        "pool_waits": mark_pool_waits(),
        "scheduled": schedules.run_due_schedules(),
        "webhooks": webhooks.enqueue_due_deliveries(),
        "notifications": notifications.enqueue_due_notifications(),
        "pruned": prune_if_due(),
    }


PRUNE_EVERY_SECONDS = 3600
_last_prune = {"at": 0.0}


def prune_if_due() -> int:
    """Retention and the expiry of uploads run once an hour per dispatcher (deleting
    twice is harmless; an expired upload is refused at once, deleted or not)."""
    if time.monotonic() - _last_prune["at"] < PRUNE_EVERY_SECONDS and _last_prune["at"]:
        return 0
    _last_prune["at"] = time.monotonic()
    return retention.prune_all() + expire_uploads()


def run_forever(stop_event: threading.Event | None = None, interval: float | None = None) -> None:
    interval = interval or settings.JOBSITE_DISPATCH_INTERVAL
    log.info("dispatcher running every %.1f s", interval)
    while stop_event is None or not stop_event.is_set():
        started = time.monotonic()
        try:
            close_old_connections()
            did = dispatch_once()
            if any(did.values()):
                log.info("dispatcher: %s", ", ".join(f"{k}={v}" for k, v in did.items() if v))
        except Exception:  # noqa: BLE001 - the database may be away; keep looping
            log.warning("dispatcher pass failed; retrying", exc_info=True)
            close_old_connections()
        time.sleep(max(0.05, interval - (time.monotonic() - started)))
