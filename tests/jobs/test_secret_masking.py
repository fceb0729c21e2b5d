"""A job that used a secret variable and a secret step param, run by the real executors
(shell, http against a server on 127.0.0.1, report, a failing step), then read through
every door: the pages, the API, the admin, webhook payloads as received, the log
exports. None may hold a secret in any spelling: raw, URL-encoded, JSON-escaped or
HTML-escaped (SPEC §15, issue 12)."""

import html
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, quote_plus

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from jobs.models import Job, JobEvent, Schedule, StepRun, WebhookDelivery, WebhookEndpoint
from jobs.services import create_job
from tests.jobs.helpers import make_template

# A space, &, ", /, non-ASCII: each encoding spells these differently.
TOKEN = 'S3CR3T-abc def&x="q"/ü'
PASSWORD = 'pa ss&w"rd/ñ-9'

TEMPLATE = """
slug: leaky
name: Leaky
variables:
  tok: {type: secret, required: true}
  who: {type: string, default: world}
steps:
  - id: talk
    type: shell
    params:
      pw: {type: secret, required: true}
    with:
      script: |
        echo "token is $VAR_TOK and pw $PARAM_PW"
        echo "val=$VAR_TOK" >> "$JOBSITE_OUTPUT"
        python3 -c 'import json, os, urllib.parse as u
        for v in (os.environ["VAR_TOK"], os.environ["PARAM_PW"]):
            print(json.dumps(v), json.dumps(v, ensure_ascii=False), u.quote(v), u.quote_plus(v), u.quote(v, safe=""))'
  - id: fetch
    type: http
    needs: [talk]
    with:
      url: "URL/echo?token={{ vars.tok }}"
  - id: report
    type: report
    needs: [fetch]
    params:
      pw: {type: secret, required: true}
    with:
      markdown: "secret {{ vars.tok }} and {{ params.pw }}"
  - id: boom
    type: shell
    needs: [report]
    with:
      command: ["python3", "-c", "import os, sys; sys.exit('failed with ' + os.environ['VAR_TOK'])"]
"""


def spellings(value):
    """Every form the test looks for, computed here independently of the code under test."""
    forms = {
        value,
        quote(value),
        quote(value, safe=""),
        quote_plus(value),
        quote_plus(value, safe=""),
        quote(value, safe="!#$%&'()*+,/:;=?@[]~"),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        html.escape(value),
        html.escape(value, quote=False),
    }
    return forms | {form.lower() for form in forms if "%" in form}


FORBIDDEN = sorted(spellings(TOKEN) | spellings(PASSWORD), key=len, reverse=True)


def leaks(text):
    lowered = text.lower()
    return [form for form in FORBIDDEN if form in text or ("%" in form and form.lower() in lowered)]


class Echo(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.server.received.append(self.rfile.read(int(self.headers["content-length"])))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    httpd.received = []
    httpd.daemon_threads = True
    threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch):
    for name in (
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def finished_job(workspace, run_tasks, server, settings):
    settings.JOBSITE_EGRESS_ALLOW = ["127.0.0.1"]  # the test's server (SPEC §15 egress policy)
    url = f"http://127.0.0.1:{server.server_port}"
    template = make_template(workspace, TEMPLATE.replace("URL", url))
    WebhookEndpoint.objects.create(workspace=workspace, url=f"{url}/hook")
    job = create_job(
        workspace, template=template, variables={"tok": TOKEN},
        params={"talk": {"pw": PASSWORD}, "report": {"pw": PASSWORD}}, callback_url=f"{url}/callback",
    )  # fmt: skip
    run_tasks()
    job.refresh_from_db()
    assert job.status == "failed"
    steps = {step.step_id: step for step in job.steps.all()}
    assert steps["fetch"].outputs["status"] == 200  # the request really carried the secret
    run_tasks()  # the webhook deliveries
    return job


def test_a_secret_is_in_no_page_api_answer_admin_page_webhook_or_export(
    finished_job, workspace, operator_user, server
):
    job = finished_job
    ui = Client()
    ui.force_login(operator_user)
    api = Client(headers={"X-Workspace-Slug": workspace.slug})
    api.force_login(operator_user)
    root = get_user_model().objects.create_superuser("root", "root@example.invalid", "pw")
    admin = Client()
    admin.force_login(root)
    step_ids = StepRun.objects.filter(job=job).values_list("pk", flat=True)
    event_ids = JobEvent.objects.filter(job=job).values_list("pk", flat=True)[:50]
    pages = {
        "job page": (ui, f"/jobs/{job.pk}/"),
        "job page, log filtered": (ui, f"/jobs/{job.pk}/?step=talk"),
        "log download": (ui, f"/jobs/{job.pk}/log.txt"),
        "job list": (ui, "/jobs/"),
        "dashboard": (ui, "/"),
        "rerun with changes": (ui, f"/jobs/{job.pk}/rerun/edit/"),
        "API job": (api, f"/api/v1/jobs/{job.pk}/"),
        "API job list": (api, "/api/v1/jobs/"),
        "API status": (api, f"/api/v1/jobs/{job.pk}/status/"),
        "API events": (api, f"/api/v1/jobs/{job.pk}/events/"),
        "API logs": (api, f"/api/v1/jobs/{job.pk}/logs/"),
        "API result": (api, f"/api/v1/jobs/{job.pk}/result/"),
        "admin job": (admin, f"/admin/jobs/job/{job.pk}/change/"),
        "admin jobs": (admin, "/admin/jobs/job/"),
        "admin steps": (admin, "/admin/jobs/steprun/"),
        "admin events": (admin, f"/admin/jobs/jobevent/?q={job.pk}"),
        "admin deliveries": (admin, "/admin/jobs/webhookdelivery/"),
    }
    pages.update(
        {f"admin step {pk}": (admin, f"/admin/jobs/steprun/{pk}/change/") for pk in step_ids}
    )
    pages.update(
        {f"admin event {pk}": (admin, f"/admin/jobs/jobevent/{pk}/change/") for pk in event_ids}
    )
    for delivery in WebhookDelivery.objects.all():
        pages[f"admin delivery {delivery.event}"] = (
            admin,
            f"/admin/jobs/webhookdelivery/{delivery.pk}/change/",
        )
    found = {}
    for name, (client, path) in pages.items():
        response = client.get(path)
        assert response.status_code == 200, (name, response.status_code)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        if problems := leaks(body.decode()):
            found[name] = problems
    json_result = api.get(f"/api/v1/jobs/{job.pk}/result/", HTTP_ACCEPT="application/json")
    if problems := leaks(json_result.content.decode()):
        found["API result JSON"] = problems
    received = [body.decode() for body in server.received]
    assert len(received) >= 3  # step.failed, job.failed, the callback (at least)
    for body in received:
        assert '"error"' in body or "step" in body
        if problems := leaks(body):
            found["webhook payload"] = problems
    for delivery in WebhookDelivery.objects.all():
        if problems := leaks(json.dumps(delivery.payload, ensure_ascii=False)):
            found[f"delivery {delivery.event}"] = problems
    assert found == {}
    assert job.steps.get(step_id="boom").error.startswith("exited with code 1: failed with ***")
    assert job.result_markdown == "secret *** and ***"
    # The masked values are there, so the pages did show what the steps wrote.
    assert "secret *** and ***" in ui.get(f"/jobs/{job.pk}/").content.decode()
    assert "token=***" in api.get(f"/api/v1/jobs/{job.pk}/logs/").content.decode()


def test_no_database_column_holds_a_secret_in_clear(finished_job, workspace):
    WebhookEndpoint.objects.create(
        workspace=workspace,
        url="http://127.0.0.1:9/x",
        secret="whsec_c2VjcmV0LXNpZ25pbmcta2V5LTEyMzQ1Njc4",
    )
    Schedule.objects.create(workspace=workspace, template=finished_job.template, cron="0 3 * * *")
    schedule = Schedule.objects.get()
    schedule.variables = {"tok": TOKEN}
    from jobs.automation.schedules import save_schedule

    save_schedule(schedule)
    schedule.save()
    tables = [
        model._meta.db_table
        for model in (Job, StepRun, JobEvent, WebhookDelivery, WebhookEndpoint, Schedule)
    ]
    found = {}
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                text = " ".join(str(value) for value in row)
                for secret in (*FORBIDDEN, "c2VjcmV0LXNpZ25pbmcta2V5LTEyMzQ1Njc4"):
                    if secret in text:
                        found.setdefault(table, set()).add(secret)
    assert found == {}
    # …and the worker can still read them.
    assert finished_job.unsealed_values()[0]["tok"] == TOKEN
    assert WebhookEndpoint.objects.get(url="http://127.0.0.1:9/x").secret.endswith("Njc4")
    assert Schedule.objects.get().unsealed_variables()["tok"] == TOKEN
