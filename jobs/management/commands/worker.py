import signal

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from jobs.engine.pools import host_pools
from jobs.worker import hosts as worker_hosts
from jobs.worker.supervisor import manage_command, pool_clusters, supervise


class Command(BaseCommand):
    help = (
        "Run one worker host: a django-q2 cluster and the dispatcher loop beside it. "
        "SIGUSR1 (or `manage.py drain`) drains it: running steps finish, no new ones start, then it exits. "
        "SIGTERM drains too, within JOBSITE_STOP_GRACE_SECONDS."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-dispatcher", action="store_true", help="run only the worker cluster"
        )

    def handle(self, *args, **options):
        host = worker_hosts.this_host()
        worker_hosts.host_started(host)
        signal.signal(signal.SIGUSR1, lambda *_: worker_hosts.request_drain(host))
        pools = host_pools()
        children = dict(pool_clusters(pools))
        if not options["no_dispatcher"]:
            children["dispatcher"] = manage_command("dispatcher")
        self.stdout.write(
            f"worker host {host}: pools {', '.join(pools)}, {settings.JOBSITE_WORKERS} workers per pool, "
            f"broker={settings.JOBSITE_BROKER}"
        )
        self.stdout.flush()
        raise SystemExit(
            supervise(
                children,
                out=self.stdout,
                grace=settings.JOBSITE_STOP_GRACE_SECONDS,
                should_stop=lambda: self.drained(host),
                on_stop=lambda: worker_hosts.drain_quietly(host),
            )
        )

    def drained(self, host):
        try:
            close_old_connections()
            if not worker_hosts.is_draining():
                return False
            running = worker_hosts.running_steps_on(host)
        except Exception:  # noqa: BLE001 - the database may be away; keep running
            return False
        if running:
            return False
        self.stdout.write(f"worker host {host} drained: no running steps left; stopping")
        return True
