"""Browser tests: Playwright for Python driving Debian's Chromium against pytest-django's
live server, with a real worker host (`manage.py worker`: a django-q2 cluster and the
dispatcher) running as a subprocess on the same SQLite file.

Why a subprocess and not a thread: it is the real thing — shell steps run in their own
process groups, cancel arrives through the heartbeat, the dispatcher runs beside it —
and it is stopped by its PID (its own process group), never by name. The test database
is a file of its own for this session, so the worker can open it and a concurrent run
of the default suite in the same checkout is not disturbed.
"""

import http.server
import os
import re
import threading
import time
import uuid
from pathlib import Path

import pytest

CHROMIUM = "/usr/lib/chromium/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
RESULTS = Path(__file__).resolve().parents[2] / "test-results"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PASSWORD = "e2e-password"


@pytest.fixture(scope="session")
def django_db_modify_db_settings(tmp_path_factory):
    from django.conf import settings

    path = tmp_path_factory.mktemp("e2e-db") / f"e2e-{uuid.uuid4().hex[:8]}.db"
    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = str(path)


@pytest.fixture(scope="session")
def worker_host(django_db_setup, django_db_blocker, tmp_path_factory):
    """One real worker host for the whole session, on the test database."""
    from django.conf import settings
    from django.db import connection

    from tests.worker_cluster import Deployment

    with django_db_blocker.unblock():
        database = connection.settings_dict["NAME"]
    deployment = Deployment(
        tmp_path_factory.mktemp("e2e-worker"), database_url=f"sqlite:///{database}", workers=3
    )
    # The live server enqueues on this queue (tasks signed with its SECRET_KEY) and
    # reads artifacts from this storage.
    deployment.env["JOBSITE_QUEUE_NAME"] = settings.Q_CLUSTER["name"]
    deployment.env["SECRET_KEY"] = settings.SECRET_KEY
    deployment.env["JOBSITE_STORAGE_DIR"] = str(settings.MEDIA_ROOT)
    process = deployment.start("worker", log_name="worker")
    time.sleep(0.5)
    assert process.poll() is None, (deployment.data_dir / "worker.log").read_text()
    yield deployment
    deployment.stop_all()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test-e2e` installs Debian's chromium")
    # Playwright's sync API runs an event loop in the test thread, and the tests still
    # use the ORM directly to set up data. Set while the browser runs, for these tests
    # only (this conftest is imported by every run, so not at import time).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class Visit:
    """One browser context (a fresh cookie jar) with the checks every test wants: no
    JavaScript dialog ever opens, and the console shows no error (a CSP violation is
    one)."""

    def __init__(self, browser, base_url, viewport=DESKTOP, color_scheme="light"):
        self.base_url = base_url
        self.context = browser.new_context(
            viewport=viewport, color_scheme=color_scheme, base_url=base_url
        )
        self.context.set_default_timeout(15_000)
        self.dialogs, self.console_errors = [], []
        self.page = self.new_page()

    def new_page(self):
        """Another tab of this visit, watched like the first."""
        page = self.context.new_page()
        page.on("dialog", self._on_dialog)
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.console_errors.append(str(error)))
        return page

    def _on_console(self, message):
        # A 400 page (a form with errors) or a 403 is logged as a failed load: expected.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.console_errors.append(message.text)

    def _on_dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def login(self, username, password=PASSWORD):
        self.page.goto("/login/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(re.compile(r".*/$"))
        return self.page

    def screenshot(self, name):
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser, live_server, worker_host):
    """visit(viewport=…, color_scheme=…) → a Visit; each is closed after the test and
    must not have opened a dialog or logged an error."""
    opened = []

    def open_visit(**options):
        opened.append(Visit(browser, live_server.url, **options))
        return opened[-1]

    yield open_visit
    for one in opened:
        one.close()
    for one in opened:
        assert one.dialogs == [], f"a JavaScript dialog opened: {one.dialogs}"
        assert one.console_errors == [], f"console errors: {one.console_errors}"


GREET = """
slug: e2e-greet
name: Greeting
type: demo
description: Prints a few lines slowly, then reports.
variables:
  count: {type: integer, default: 4, min: 1, max: 10, description: How many lines.}
  who: {type: string, default: world}
steps:
  - id: talk
    type: shell
    with:
      script: |
        for i in $(seq 1 "$VAR_COUNT"); do echo "line $i for $VAR_WHO"; sleep 0.4; done
        echo "lines=$VAR_COUNT" >> "$JOBSITE_OUTPUT"
        echo "hello $VAR_WHO" > "$JOBSITE_ARTIFACTS/greeting.txt"
  - id: report
    type: report
    needs: [talk]
    with:
      markdown: |
        # Greeted {{ vars.who }}
        {{ steps.talk.outputs.lines }} lines.
"""

SLOW = """
slug: e2e-slow
name: Slow sleeper
type: demo
description: Sleeps for a minute unless canceled.
steps:
  - id: warm_up
    type: shell
    with: {script: "echo warming up"}
  - id: nap
    type: sleep
    needs: [warm_up]
    with: {seconds: 60}
"""

FLAKY = """
slug: e2e-flaky
name: Flaky maintenance
type: maintenance
description: The cleanup fails the first time (continue_on_failure), so the job ends partial.
variables:
  marker: {type: string, required: true}
steps:
  - id: vacuum
    type: shell
    with: {script: "echo vacuum ran"}
  - id: cleanup
    type: shell
    continue_on_failure: true
    with:
      script: |
        calls=$(curl -fsS -X POST "$VAR_MARKER")
        if [ "$calls" -gt 1 ]; then echo "cleanup ran again and worked"; exit 0; fi
        echo "ERROR: scratch volume is busy" >&2
        exit 3
  - id: notify
    type: noop
    needs: [vacuum, cleanup]
"""

CHATTY = """
slug: e2e-chatty
name: Chatty
steps:
  - id: chat
    type: shell
    with:
      script: |
        for i in $(seq 1 120); do echo "chatter $i"; sleep 0.05; done
"""

HOSTILE = '<script>alert("s")</script><img src=x onerror=alert("i")>'

XSS = """
slug: e2e-xss
name: Hostile input
description: 'Describes itself with <script>alert("d")</script> and <img src=x onerror=alert("d2")>'
variables:
  payload: {type: string, default: '<script>alert("v")</script>'}
steps:
  - id: shout
    type: shell
    with:
      script: |
        printf '\\033[1;31m%s\\033[0m plain \\033[32mgreen\\033[0m\\n' "$VAR_PAYLOAD"
        printf '%s \\033]0;title\\007 after\\n' '<img src=x onerror=alert("log")>'
        echo "WARN: <svg onload=alert('warn')>"
  - id: report
    type: report
    needs: [shout]
    with:
      markdown: |
        # Result {{ vars.payload }}

        [click me](javascript:alert("md")) <a href="javascript:alert('a')">raw link</a>

        <script>alert("md2")</script><img src=x onerror=alert("md3")>
"""


class CallCounter:
    """How a step remembers across jobs that it ran before: a sandboxed step cannot leave
    a file on the host, so it POSTs to /<name> here (127.0.0.1, a thread of the test
    process) and gets back how many times that name was called, this call included."""

    def __init__(self):
        counts, lock = {}, threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                with lock:
                    counts[self.path] = counts.get(self.path, 0) + 1
                    body = str(counts[self.path]).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Site:
    """A workspace with one user per role and the e2e templates, created per test (the
    live server's database is emptied after each)."""

    def __init__(self, tmp_path):
        from django.contrib.auth import get_user_model

        from jobsite.models import Membership, Role, Workspace
        from tests.jobs.helpers import make_template

        self.tmp_path = tmp_path
        self.calls = CallCounter()
        self.workspace = Workspace.objects.create(slug="e2e", name="E2E workspace")
        users = get_user_model().objects
        for username, role in (("ada", Role.ADMIN), ("otto", Role.OPERATOR), ("vic", Role.VIEWER)):
            user = users.create_user(username, f"{username}@example.invalid", PASSWORD)
            Membership.objects.create(workspace=self.workspace, user=user, role=role)
        self.templates = {
            slug: make_template(self.workspace, source)
            for slug, source in (
                ("greet", GREET),
                ("slow", SLOW),
                ("flaky", FLAKY),
                ("xss", XSS),
                ("chatty", CHATTY),
            )
        }

    def start(self, key, **kwargs):
        from jobs.models import Trigger
        from jobs.services import create_job

        return create_job(
            self.workspace,
            template=self.templates[key],
            trigger=Trigger.UI,
            created_by="user:otto",
            **kwargs,
        )

    def marker(self, name):
        """A URL for the flaky template's `marker`: its first call answers 1."""
        return f"{self.calls.url}/{name}"

    def wait_for_status(self, job, *statuses, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.status in statuses:
                return job
            time.sleep(0.1)
        raise AssertionError(f"job {job.name} is {job.status}, not {statuses}, after {timeout} s")


@pytest.fixture
def site(transactional_db, tmp_path):
    site = Site(tmp_path)
    yield site
    site.calls.close()
