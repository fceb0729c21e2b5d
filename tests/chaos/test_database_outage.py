"""Item 9c: PostgreSQL stops for 10 s while 200 jobs run (ORM broker, so the task queue
goes away with it). The worker host and its dispatcher ride it out — the same processes
reconnect afterwards —, every job finishes, and the web app answers 503 with a short
JSON body (never a stack trace, never a 500 page) while the database is away.

The lease (30 s, the default) is longer than the outage: a step that was running or
finished while the database was away keeps its result, so no job is lost."""

import http.cookiejar
import os
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from tests.chaos.conftest import (
    DatabaseAway,
    Workload,
    children_of,
    http_get,
    needs_postgres,
    postgres_stopped,
    print_figures,
    processes_in_session,
)

SEED = int(os.environ.get("JOBSITE_CHAOS_SEED", "20261122"))
JOBS = 200
OUTAGE_SECONDS = 10
DEADLINE_SECONDS = 110
SET_UP_USERS = """
from django.contrib.auth import get_user_model
from jobsite.models import ApiKey, Workspace
get_user_model().objects.create_superuser("chaos", "chaos@example.invalid", "chaos-pass")
print(ApiKey.issue(Workspace.objects.get(slug="chaos"), "chaos")[1])
"""


class Browser:
    """An HTTP client that keeps cookies: enough to log in to the admin and come back
    with the session, as an operator's browser would."""

    def __init__(self, base, headers=None):
        self.base = base
        self.headers = headers or {}
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def request(self, path, form=None):
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.base + path, data=data, headers=self.headers)
        try:
            with self.opener.open(request, timeout=5) as response:
                return (
                    response.status,
                    response.headers.get("Content-Type", ""),
                    response.read().decode(errors="replace"),
                )
        except urllib.error.HTTPError as error:
            return (
                error.code,
                error.headers.get("Content-Type", ""),
                error.read().decode(errors="replace"),
            )
        except (urllib.error.URLError, OSError) as error:
            return None, "", str(error)

    def cookie(self, name):
        return next((cookie.value for cookie in self.cookies if cookie.name == name), "")

    def log_in_form(self, username, password):
        return {
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": self.cookie("csrftoken"),
            "next": "/admin/",
        }


def web_requests(web, api_key):
    """What the web app is asked while the database is away: (name, callable) pairs.
    Each returns (status, content type, body)."""
    operator = Browser(web)
    assert operator.request("/admin/login/")[0] == 200
    status, _, body = operator.request(
        "/admin/login/?next=/admin/", operator.log_in_form("chaos", "chaos-pass")
    )
    assert status == 200 and "Site administration" in body, (
        f"could not log in: {status} {body[:300]}"
    )
    visitor = Browser(web)
    assert visitor.request("/admin/login/")[0] == 200
    api = Browser(web, headers={"Authorization": f"Bearer {api_key}"})
    assert api.request("/api/v1/jobs/")[0] == 200
    return {
        "GET /readyz": lambda: http_get(web + "/readyz"),
        "GET /admin/ (logged in)": lambda: operator.request("/admin/"),
        "POST /admin/login/": lambda: visitor.request(
            "/admin/login/?next=/admin/", visitor.log_in_form("chaos", "chaos-pass")
        ),
        "GET /api/v1/jobs/ (API key)": lambda: api.request("/api/v1/jobs/"),
        # The bare login form needs no database; it may render, but never as an error.
        "GET /admin/login/": lambda: visitor.request("/admin/login/"),
    }


def command_of(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def host_processes(host_pid):
    """The worker host's process tree by role: the `worker` command, its qcluster and
    dispatcher, django-q2's sentinel, and the sentinel's children (workers, pusher,
    monitor)."""
    roles = {"worker host": host_pid}
    for child in children_of(host_pid):
        roles["qcluster" if "qcluster" in command_of(child) else "dispatcher"] = child
    sentinels = children_of(roles.get("qcluster", -1))
    roles["sentinel"] = sentinels[0] if sentinels else None
    pool = set(children_of(roles["sentinel"])) if roles["sentinel"] else set()
    return roles, pool


def is_a_clean_answer(name, status, content_type, body):
    """503 with a short JSON body; the bare login form may also render (200)."""
    if "Traceback" in body or "Server Error" in body:
        return False
    if status == 200 and name == "GET /admin/login/":
        return True
    return status == 503 and content_type.startswith("application/json")


@pytest.mark.chaos
@pytest.mark.postgres
@needs_postgres
def test_workers_and_dispatcher_ride_out_a_database_outage_and_the_web_answers_503(
    chaos_deployment,
):
    deploy = chaos_deployment(
        database="postgres", broker="orm", workers=8, env={"JOBSITE_LEASE_SECONDS": "30"}
    )
    db = deploy.db
    rng = random.Random(SEED)
    workload = Workload(deploy, jobs=JOBS, seed=SEED)
    web = deploy.start_web()

    started = time.monotonic()
    host_proc, _ = deploy.start_worker_host()
    creator = workload.start_creating()
    assert creator.wait(timeout=60) == 0, (deploy.data_dir / "create-jobs.log").read_text()[-3000:]
    stop_after = rng.randint(20, 60)
    assert deploy.wait_for(
        lambda: db.scalar("SELECT COUNT(*) FROM jobs_job WHERE status = 'succeeded'") >= stop_after,
        timeout=60,
    )
    api_key = deploy.manage("shell", "-c", SET_UP_USERS).stdout.split()[-1]
    asks = web_requests(web, api_key)
    roles_before, pool_before = host_processes(host_proc.pid)
    assert None not in roles_before.values() and len(pool_before) >= 8, (roles_before, pool_before)
    running_before = db.scalar("SELECT COUNT(*) FROM jobs_steprun WHERE status = 'running'")
    db.close()

    answers = Counter()
    unclean = []
    with postgres_stopped():
        stopped_at = time.monotonic()
        while time.monotonic() - stopped_at < OUTAGE_SECONDS:
            for name, ask in asks.items():
                status, content_type, body = ask()
                answers[(name, status)] += 1
                if not is_a_clean_answer(name, status, content_type, body):
                    unclean.append((name, status, content_type, body[:500]))
            time.sleep(0.5)
        alive_during = {
            role: pid
            for role, pid in roles_before.items()
            if pid in processes_in_session(host_proc.pid)
        }
    back_at = time.monotonic()

    def all_done():
        try:
            return db.unfinished_jobs() == 0
        except DatabaseAway:
            return False

    deploy.wait_for(all_done, timeout=max(1, DEADLINE_SECONDS - (back_at - started)), interval=0.2)
    drained = time.monotonic()
    ready_after = http_get(web + "/readyz")
    roles_after, pool_after = host_processes(host_proc.pid)

    statuses = db.job_statuses()
    steps = db.steps()
    record_effects = workload.lines("record.effects")
    charge_runs = workload.lines("charge.executions")
    print_figures(
        f"PostgreSQL stopped for {OUTAGE_SECONDS} s on {deploy.label} (seed {SEED})",
        {
            "jobs": sum(statuses.values()),
            "job statuses": dict(sorted(statuses.items())),
            "stopped after": f"{stop_after} jobs succeeded, {running_before} steps running",
            "answers while it was down": "; ".join(
                f"{name} {status}×{n}" for (name, status), n in sorted(answers.items(), key=str)
            ),
            "host processes alive after": f"{sum(roles_after.get(r) == p for r, p in roles_before.items())} of {len(roles_before)} (same pids)",
            "django-q2 pool processes replaced": len(pool_before - pool_after),
            "lost": sum(1 for s in steps if s["status"] == "lost"),
            "duplicates": sum(n - 1 for n in record_effects.values() if n > 1)
            + sum(n - 1 for n in charge_runs.values() if n > 1),
            "time to drain after it came back": f"{drained - back_at:.1f} s",
            "total": f"{drained - started:.1f} s",
        },
    )

    assert not unclean, (
        f"answers while the database was down that are not a clean 503: {unclean[:3]}"
    )
    assert alive_during == roles_before, (
        f"host processes died during the outage: {roles_before} → {alive_during}"
    )
    assert roles_after == roles_before, (
        f"host processes were replaced: {roles_before} → {roles_after}"
    )
    assert ready_after[0] == 200, f"/readyz after the outage: {ready_after}"
    unsuccessful = sorted({s["job"] for s in steps if s["job_status"] != "succeeded"})
    assert statuses == {"succeeded": JOBS}, (
        f"not every job succeeded {DEADLINE_SECONDS} s after the start; the first of them:\n"
        + "\n".join(db.timeline(unsuccessful[0]) if unsuccessful else [])
    )
    assert all(record_effects[s["job"]] == 1 for s in steps if s["step"] == "record")
    assert all(charge_runs[s["job"]] == 1 for s in steps if s["step"] == "charge")
