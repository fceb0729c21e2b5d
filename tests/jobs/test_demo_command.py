"""`manage.py demo` sets up the demo for the address the server will really answer on."""

from io import StringIO

import pytest
from django.core.management import call_command

from templates_app.models import JobTemplate

pytestmark = pytest.mark.django_db


def test_demo_prints_and_pings_the_port_the_server_runs_on(settings):
    settings.JOBSITE_BIND = "127.0.0.1:8765"
    out = StringIO()
    call_command("demo", "--password", "pw", "--url", f"http://{settings.JOBSITE_BIND}", stdout=out)
    assert "http://127.0.0.1:8765/" in out.getvalue() and ":8000" not in out.getvalue()
    host_report = JobTemplate.objects.get(slug="host-report")
    assert host_report.definition["variables"]["url"]["default"] == "http://127.0.0.1:8765/healthz"


def test_demo_and_serve_take_their_address_from_jobsite_bind(settings):
    from jobs.management.commands import demo, serve

    settings.JOBSITE_BIND = "127.0.0.1:9123"
    assert (
        demo.Command().create_parser("manage.py", "demo").get_default("url")
        == "http://127.0.0.1:9123"
    )
    assert (
        serve.Command().create_parser("manage.py", "serve").get_default("bind") == "127.0.0.1:9123"
    )
