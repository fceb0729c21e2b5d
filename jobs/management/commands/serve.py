import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from jobs.engine.pools import host_pools
from jobs.worker import hosts as worker_hosts
from jobs.worker.step_runner import retrying_while_database_away
from jobs.worker.supervisor import manage_command, pool_clusters, supervise


def web_command(bind: str, workers: int) -> list[str]:
    """The gunicorn command line of the web server. Its access log redacts query string
    values and credential headers (jobsite.access_log)."""

    return [
        sys.executable,
        "-m",
        "gunicorn",
        "jobsite.wsgi",
        "--bind",
        bind,
        "--workers",
        str(workers),
        "--threads",
        "4",
        "--access-logfile",
        "-",
        "--logger-class",
        "jobsite.access_log.RedactingAccessLogger",
        "--graceful-timeout",
        "5",
    ]


class Command(BaseCommand):
    help = "Run everything for one machine: the web server, a worker cluster and the dispatcher."

    def add_arguments(self, parser):
        parser.add_argument(
            "--bind",
            default=settings.JOBSITE_BIND,
            help="host:port for the web server (default: JOBSITE_BIND)",
        )
        parser.add_argument("--web-workers", type=int, default=2)

    def handle(self, *args, **options):
        call_command("collectstatic", interactive=False, verbosity=0)
        web = web_command(options["bind"], options["web_workers"])
        self.stdout.write(
            f"jobsite serving on http://{options['bind']}  "
            f"(database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, "
            f"broker: {settings.JOBSITE_BROKER}, workers: {settings.JOBSITE_WORKERS}). Ctrl-C stops everything."
        )
        self.stdout.flush()
        host = worker_hosts.this_host()
        # A restarted host is not draining any more (SIGTERM marked it). Until that is
        # written its workers would hand every task back, so a database still starting
        # is waited for (a minute) rather than skipped.
        retrying_while_database_away(
            lambda: worker_hosts.host_started(host), until=time.monotonic() + 60
        )
        children = {
            "web": web,
            **pool_clusters(host_pools()),
            "dispatcher": manage_command("dispatcher"),
        }
        raise SystemExit(
            supervise(
                children,
                out=self.stdout,
                grace=settings.JOBSITE_STOP_GRACE_SECONDS,
                on_stop=lambda: worker_hosts.drain_quietly(host),
            )
        )
