"""`manage.py demo`: a workspace to try jobsite with. Running it twice is harmless."""

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from jobsite.models import ApiKey, Membership, Role, Workspace
from templates_app.definition import load_definition
from templates_app.models import JobTemplate, save_template_version
from templates_app.policy import definition_rules

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"


DEMO_SERVER = "http://127.0.0.1:8000"  # as written in jobs/demo/*.yaml


class Command(BaseCommand):
    help = "Create the demo workspace, an admin user, an API key and example templates."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--password", default=None, help="default: a new random password on first run"
        )
        parser.add_argument(
            "--url",
            default=f"http://{settings.JOBSITE_BIND}",
            help="where the server will answer (default: http:// + JOBSITE_BIND)",
        )

    @transaction.atomic
    def handle(self, *args, **options):
        workspace, _ = Workspace.objects.get_or_create(
            slug="demo", defaults={"name": "Demo workspace"}
        )
        User = get_user_model()
        user = User.objects.filter(username=options["username"]).first()
        password = options["password"]
        if user is None:
            password = password or secrets.token_urlsafe(9)
            user = User.objects.create_superuser(
                options["username"], f"{options['username']}@example.invalid", password
            )
        elif password:
            user.set_password(password)
            user.save(update_fields=["password"])
        Membership.objects.update_or_create(
            workspace=workspace, user=user, defaults={"role": Role.ADMIN}
        )

        created_templates = []
        for path in sorted(DEMO_DIR.glob("*.yaml")):
            # Templates that call this server (host-report's ping) call it where it runs.
            source = path.read_text().replace(DEMO_SERVER, options["url"].rstrip("/"))
            definition = load_definition(source, rules=definition_rules(workspace))
            current = JobTemplate.objects.filter(
                workspace=workspace, slug=definition["slug"]
            ).first()
            if current is None or current.definition != definition:
                save_template_version(workspace, definition, source=source, user=user)
                created_templates.append(definition["slug"])

        raw_key = None
        if not ApiKey.objects.usable().filter(workspace=workspace, name="demo admin key").exists():
            _, raw_key = ApiKey.issue(workspace, "demo admin key", role=Role.ADMIN, created_by=user)

        url = options["url"]
        out = self.stdout
        out.write(self.style.SUCCESS("Demo workspace 'demo' is ready."))
        if created_templates:
            out.write(f"  templates saved: {', '.join(created_templates)}")
        out.write(
            f"  log in at {url}/ as user '{user.username}'"
            + (
                f" with password: {password}"
                if password
                else " (password unchanged; `manage.py demo --password NEW` sets one)"
            )
        )
        if raw_key:
            out.write(f"  admin API key (shown once, store it now): {raw_key}")
            out.write(f"    curl -H 'Authorization: Bearer {raw_key}' {url}/api/v1/templates/")
        else:
            out.write(
                "  API key 'demo admin key' exists already (keys are shown once; create another in the admin)"
            )
        out.write("  try:  .venv/bin/python manage.py runjob orders-export --var days=3 --follow")
