"""The hostile-input run of issue 12: generated values (a corpus of attacks, mixed and
mangled by a seeded generator) through template validation, the trigger URL and real
`shell`, `http` and `report` steps, then read back through the job page and the API.

Counted: 5xx answers (must be 0), executions (a value that ran as code prints a canary
that its own text does not contain; must be 0), unsanitized renders (live markup from a
value on the job page; must be 0), and values refused with a 4xx naming their field (the
expected refusals: a newline in a one-line string, a NUL or lone surrogate, a leading
dash where it would be an option).

The default suite runs a small sample (the corpus and a few mixtures: two jobs);
`make test-fuzz` (the `fuzz` marker) runs 10,000
values. Run either on PostgreSQL by setting DATABASE_URL as `make test-postgres` does."""

import json
import os
import random
import re
import threading
from collections import Counter
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client

from jobs.models import Job
from jobs.services import create_job
from tests.jobs.helpers import make_template

BATCH = 50  # values per job: one variable each
CANARY_SOURCE = "EXEC%sUTED"  # printf's format: running it prints the canary
CANARY = "EXEC_UTED"
CORPUS = [
    "$(printf EXEC%sUTED _)", "`printf EXEC%sUTED _`", ";printf EXEC%sUTED _", "| printf EXEC%sUTED _",
    "&& printf EXEC%sUTED _", "$(id)", "`id`", ";id", "|id", "&&id", "${IFS}id", "$((1+1))", "$PATH",
    "'; printf EXEC%sUTED _; '", '"; printf EXEC%sUTED _; "', "\\", "\\n", "%s%s%n", "%x",
    "-la", "--help", "-e", "-", "--", "-rf /", "--output=/etc/passwd",
    "{{ vars.v1 }}", "{{ job.id }}", "{{", "}}", "{% debug %}", "${{ secrets.x }}",
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<svg onload=alert(1)>",
    "[x](javascript:alert(1))", "<a href='javascript:alert(1)'>x</a>", "<iframe src=//evil>",
    "\"><script>alert(1)</script>", "javascript:alert(1)", "&lt;script&gt;", "&#60;script&#62;",
    "../../../../etc/passwd", "/etc/shadow", "C:\\Windows\\system32", "file:///etc/passwd",
    "' OR '1'='1", "'; DROP TABLE jobs_job; --", "\" OR 1=1 --", "admin'--",
    "\x00", "a\x00b", "\ud800", "x\udfffy", "\r\nX-Injected: 1", "a\nadmin=true\nval=overwritten",
    "\t", "\x1b[31mred\x1b[0m", "\x7f", "\u202eevil", "\u200b", "e\u0301", "💥", "𝕏",
    "null", "None", "true", "NaN", "1e309", "-0", "9" * 30, "[]", "{}", '{"a": 1}',
    "#", "?", "&", "=", "%00", "%0a", "%2e%2e%2f", "+", " ", "  leading and trailing  ",
]  # fmt: skip
ALPHABET = "abcXYZ019 _-.,:;!?'\"`$(){}[]<>|&*#%@^~=+/\\\n\r\t\x00\x1b\u00e9\u00fc\u4e2d\u202e\U0001f4a5\ud800\udfff"


def hostile_values(count, seed=12):
    """`count` values: each corpus entry as it is, then mixtures: two entries joined,
    an entry inside random text, random text from a hostile alphabet."""
    rng = random.Random(seed)
    values = list(CORPUS[:count])
    while len(values) < count:
        kind = rng.randrange(4)
        if kind == 0:
            value = rng.choice(CORPUS) + rng.choice(CORPUS)
        elif kind == 1:
            noise = "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 8)))
            value = noise + rng.choice(CORPUS) + noise[::-1]
        elif kind == 2:
            value = "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(1, 40)))
        else:
            value = (
                rng.choice(CORPUS).upper()
                if rng.random() < 0.5
                else rng.choice(CORPUS) * rng.randrange(2, 4)
            )
        values.append(value)
    return values


class Echo(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def echo_server(settings):
    settings.JOBSITE_EGRESS_ALLOW = ["127.0.0.1"]
    # One client sends thousands of requests here: the per-key rate limit is not under test.
    settings.JOBSITE_API_RATE_LIMIT = "1000000/minute"
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    yield server
    server.shutdown()
    server.server_close()


def template_source(port):
    names = [f"v{i}" for i in range(BATCH)]
    variables = "\n".join(f"  {name}: {{type: string}}" for name in names)
    argv = ", ".join(f'"{{{{ vars.{name} }}}}"' for name in names)
    query = "&".join(f"{name}={{{{ vars.{name} }}}}" for name in names[:10])
    markdown = "\\n\\n".join(f"{name}: {{{{ vars.{name} }}}}" for name in names)
    return f"""
slug: hostile
name: Hostile
variables:
{variables}
steps:
  - id: env
    type: shell
    with:
      script: |
        for i in $(seq 0 {BATCH - 1}); do n="VAR_V$i"; printf 'env %s=%s\\n' "$i" "${{!n}}"; done
        printf 'first=%s\\n' "$VAR_V0" >> "$JOBSITE_OUTPUT"
  - id: argv
    type: shell
    with:
      command: ["bash", "-c", "for a in \\"$@\\"; do printf 'argv %s\\\\n' \\"$a\\"; done", "_", "--", {argv}]
  - id: dash
    type: shell
    with:
      command: ["printf", "dash %s\\n", "{{{{ vars.v0 }}}}"]
  - id: fetch
    type: http
    with:
      url: "http://127.0.0.1:{port}/echo?{query}"
  - id: report
    type: report
    needs: [env, argv, dash, fetch]
    with:
      markdown: "{markdown}"
settings:
  trigger_url: {{enabled: true}}
"""


class LiveMarkup(HTMLParser):
    """What a browser would run or load from a page: script-capable elements, event
    handler attributes, javascript: URLs. Text that merely reads like markup (escaped,
    `&lt;script&gt;`) is not markup and is not counted."""

    # An <img> is not here: the sanitizer keeps a markdown image (without handlers).
    ACTIVE_TAGS = frozenset(
        {"script", "iframe", "svg", "object", "embed", "form", "base", "meta", "link", "style"}
    )

    def __init__(self):
        super().__init__()
        self.found = Counter()
        self.images = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))
        if tag in self.ACTIVE_TAGS:
            self.found[f"<{tag}>"] += 1
        for name, value in attrs:
            if name.startswith("on"):
                self.found[f"{name}="] += 1
            if value and value.strip().lower().startswith(
                ("javascript:", "data:text/html", "vbscript:")
            ):
                self.found[f"{name}=javascript:"] += 1


def live_markup(html):
    """Compared with the same page of a harmless job: a hostile job's page must hold
    no more live markup than the page has of its own."""
    parser = LiveMarkup()
    parser.feed(html)
    return parser.found


def run_hostile_values(count, workspace, admin_client, run_tasks, echo_server):
    from django.db import connection

    template = make_template(workspace, template_source(echo_server.server_port))
    key = admin_client.post(
        f"/api/v1/templates/{template.slug}/trigger-key/", content_type="application/json"
    ).json()["key"]
    tally = Counter()
    refusals = Counter()
    five_xx = []
    values = hostile_values(count)
    jobs = []
    for start in range(0, len(values), BATCH):
        batch = {f"v{i}": value for i, value in enumerate(values[start : start + BATCH])}
        validate = admin_client.post(
            f"/api/v1/templates/{template.slug}/validate/",
            json.dumps({"variables": batch}),
            content_type="application/json",
        )
        tally["validate requests"] += 1
        if validate.status_code >= 500:
            five_xx.append(("validate", batch))
        while batch:
            # JSON: a NUL and a lone surrogate travel as \\u escapes, as a client sends them.
            response = admin_client.post(
                f"/api/hooks/{workspace.slug}/{template.slug}/trigger/", json.dumps(batch),
                content_type="application/json", HTTP_X_TRIGGER_KEY=key,
            )  # fmt: skip
            tally["trigger requests"] += 1
            if response.status_code >= 500:
                five_xx.append(("trigger", batch))
                break
            if response.status_code == 200:
                jobs.append((response.content.decode().strip(), dict(batch)))
                tally["values run"] += len([v for v in batch.values()])
                break
            assert response.status_code == 400, response.content
            named = re.findall(
                r"^(?:variables\.)?(v\d+): (.*)$", response.content.decode(), flags=re.MULTILINE
            )
            assert named, response.content  # a 400 names the field
            for field, message in named:
                if field in batch:
                    refusals[message.split(" (")[0][:60]] += 1
                    del batch[field]
    run_tasks()
    executions, unsanitized = [], []
    harmless = create_job(
        workspace, template=template, variables={f"v{i}": "plain" for i in range(BATCH)}
    )
    run_tasks()
    benign = live_markup(admin_client.get(f"/jobs/{harmless.pk}/").content.decode())
    for job_id, batch in jobs:
        job = Job.objects.get(pk=job_id)
        stored = json.dumps(
            [list(job.events.values_list("message", flat=True)), [s.outputs for s in job.steps.all()],
             job.result_markdown, job.error], ensure_ascii=False,
        )  # fmt: skip
        if CANARY in stored:
            executions.append(job_id)
        tally[f"jobs {job.status}"] += 1
        steps = {step.step_id: step for step in job.steps.all()}
        assert steps["env"].status == "succeeded", steps["env"].error
        assert steps["argv"].status == "succeeded", steps["argv"].error
        logged = set(job.events.filter(step_id="argv").values_list("message", flat=True))
        for value in batch.values():
            # Printed literally by a program that got it as one argument (a value with
            # characters a log line cannot hold is compared as the log stores it).
            if "\x00" not in value and f"argv {value}" not in logged and value.isprintable():
                tally["values not printed literally"] += 1
        page = admin_client.get(f"/jobs/{job_id}/")
        api = admin_client.get(f"/api/v1/jobs/{job_id}/")
        logs = admin_client.get(f"/api/v1/jobs/{job_id}/logs/")
        for name, response in (("page", page), ("api", api), ("logs", logs)):
            tally["reads"] += 1
            if response.status_code >= 500:
                five_xx.append((name, job_id))
        if extra := live_markup(page.content.decode()) - benign:
            unsanitized.append((job_id, extra))
    tally["values"] = len(values)
    tally["refused with a 4xx naming the field"] = sum(refusals.values())
    report = {
        "database": connection.vendor,
        "counts": dict(sorted(tally.items())),
        "refusals": dict(refusals.most_common()),
        "5xx": len(five_xx),
        "executions": len(executions),
        "unsanitized renders": len(unsanitized),
    }
    print(json.dumps(report, indent=1, ensure_ascii=False))
    assert five_xx == []
    assert executions == []
    assert unsanitized == []
    assert tally["values not printed literally"] == 0
    return report


def test_a_sample_of_hostile_values_runs_nowhere_and_renders_nothing(
    workspace, admin_user, run_tasks, echo_server
):
    client = Client()
    client.force_login(admin_user)
    report = run_hostile_values(
        int(os.environ.get("JOBSITE_HOSTILE_SAMPLE", "100")),
        workspace,
        client,
        run_tasks,
        echo_server,
    )
    assert (
        report["counts"]["values run"] > 0
        and report["counts"]["refused with a 4xx naming the field"] > 0
    )


@pytest.mark.fuzz
def test_ten_thousand_hostile_values_run_nowhere_and_render_nothing(
    workspace, admin_user, run_tasks, echo_server
):
    client = Client()
    client.force_login(admin_user)
    report = run_hostile_values(10_000, workspace, client, run_tasks, echo_server)
    assert report["counts"]["values"] == 10_000
