import time

from django.core.management.base import BaseCommand, CommandError

from jobs.engine.log_format import log_line
from jobs.engine.states import JobStatus
from jobs.models import EventKind, JobEvent, Trigger
from jobs.services import JobValidationError, create_job
from jobsite.models import Workspace
from templates_app.models import JobTemplate


def parse_vars(pairs):
    values = {}
    for pair in pairs:
        if "=" not in pair:
            raise CommandError(f"--var {pair!r}: use name=value")
        name, value = pair.split("=", 1)
        values[name.strip()] = value
    return values


def format_event(event):
    if event.kind == EventKind.LOG:
        return log_line(event)
    if event.kind in (EventKind.JOB_STATUS, EventKind.STEP_STATUS):
        return f"--- {event.message}"
    return None


class Command(BaseCommand):
    help = "Start a job from a template; with --follow print its log live and exit 0 only if it succeeded."

    def add_arguments(self, parser):
        parser.add_argument("template", help="template slug (or id)")
        parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE")
        parser.add_argument("--workspace", help="workspace slug (default: the only one, or 'demo')")
        parser.add_argument("--name", default="")
        parser.add_argument(
            "--follow", action="store_true", help="print the log live until the job ends"
        )
        parser.add_argument(
            "--timeout", type=float, default=0, help="give up following after N seconds"
        )

    def handle(self, *args, **options):
        workspace = self._workspace(options["workspace"])
        template = JobTemplate.objects.filter(
            workspace=workspace, slug=options["template"], archived_at__isnull=True
        ).first()
        if template is None:
            known = (
                ", ".join(
                    JobTemplate.objects.filter(workspace=workspace).values_list("slug", flat=True)
                )
                or "none"
            )
            raise CommandError(
                f"no template {options['template']!r} in workspace {workspace.slug} (known: {known})"
            )
        try:
            job = create_job(
                workspace,
                template=template,
                variables=parse_vars(options["var"]),
                name=options["name"],
                trigger=Trigger.CLI,
                created_by="cli",
            )
        except JobValidationError as exc:
            lines = [f"  {field}: {'; '.join(messages)}" for field, messages in exc.errors.items()]
            raise CommandError("invalid variables:\n" + "\n".join(lines)) from None
        self.stdout.write(f"job {job.pk} {job.status}")
        if not options["follow"]:
            return
        status = self._follow(job, options["timeout"])
        job.refresh_from_db()
        self.stdout.write(f"job {job.pk} {status}" + (f": {job.error}" if job.error else ""))
        if job.result_markdown:
            self.stdout.write("\n" + job.result_markdown)
        if status != JobStatus.SUCCEEDED:
            raise SystemExit(1)

    def _workspace(self, slug):
        if slug:
            workspace = Workspace.objects.filter(slug=slug).first()
            if workspace is None:
                raise CommandError(f"no workspace {slug!r}")
            return workspace
        workspaces = list(Workspace.objects.all()[:2])
        if len(workspaces) == 1:
            return workspaces[0]
        workspace = Workspace.objects.filter(slug="demo").first()
        if workspace is None:
            raise CommandError(
                "several workspaces: pass --workspace SLUG (or run `manage.py demo` first)"
            )
        return workspace

    def _follow(self, job, timeout):
        after = 0
        started = time.monotonic()
        warned = False
        while True:
            events = list(JobEvent.objects.filter(job=job, seq__gt=after).order_by("seq")[:1000])
            for event in events:
                line = format_event(event)
                if line:
                    self.stdout.write(line)
                after = event.seq
            job.refresh_from_db(fields=["status", "started_at"])
            if job.is_terminal and not events:
                return job.status
            elapsed = time.monotonic() - started
            if job.status == JobStatus.QUEUED and elapsed > 10 and not warned:
                self.stderr.write(
                    "still queued after 10 s: is a worker running (make run, or manage.py worker)?"
                )
                warned = True
            if timeout and elapsed > timeout:
                self.stderr.write(f"gave up following after {timeout:.0f} s; the job goes on")
                return job.status
            if not events:
                time.sleep(0.2)
