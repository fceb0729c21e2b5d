"""The chaos suite's machinery (issue 3, item 9).

A `ChaosDeployment` is a jobsite deployment of real processes (tests/worker_cluster.py)
that also knows every process session it started, so a test can check that a killed
worker host left nothing behind and the teardown can prove that nothing leaked. The test
reads the deployment's database with plain SQL (`DatabaseView`), never through the code
under test. A `Workload` is a seeded mix of shell steps whose side effects land in
files, one line per job, so duplicates can be counted. Services are taken away only
inside `postgres_stopped()` / `redis_restarted_empty()`, which give them back in a
`finally`.
"""

import http.server
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from jobs.engine.states import JOB_TERMINAL
from tests.worker_cluster import ROOT, Deployment, drop_postgres_database, fresh_postgres_url

PG = os.environ.get("JOBSITE_TEST_DATABASE_URL")
REDIS = os.environ.get("JOBSITE_TEST_REDIS_URL")

needs_postgres = pytest.mark.skipif(not PG, reason="JOBSITE_TEST_DATABASE_URL not set")
needs_postgres_and_redis = pytest.mark.skipif(
    not (PG and REDIS), reason="JOBSITE_TEST_DATABASE_URL / JOBSITE_TEST_REDIS_URL not set"
)

# Short leases so a dead worker's steps come back within seconds, not half a minute.
FAST_LEASES = {
    "JOBSITE_LEASE_SECONDS": "3",
    "JOBSITE_HEARTBEAT_SECONDS": "1",
    "JOBSITE_DISPATCH_INTERVAL": "0.5",
}
TERMINAL = tuple(str(status) for status in JOB_TERMINAL)


def print_figures(title, figures):
    print(f"\n[chaos] {title}")
    for name, value in figures.items():
        print(f"  {name:<40} {value}")


def job_key(value):
    """A job id as the database or a step's $JOBSITE_JOB_ID spells it → one spelling."""
    return uuid.UUID(str(value)).hex


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url, timeout=5, headers=None):
    """(status, content type, body text) of a GET; (None, "", error) when nothing answered."""
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers or {}), timeout=timeout
        ) as response:
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


# --- processes ----------------------------------------------------------------------


def _stat(pid):
    """(state, ppid, session id) of a process, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1]), int(fields[3])


def _live_pids():
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat and stat[0] not in ("Z", "X"):  # a zombie has already died
                yield int(entry), stat


def processes_in_session(sid):
    """Live processes of a session. Everything a `Deployment.start` command starts stays
    in its session, except shell steps, which lead sessions of their own."""
    return sorted(pid for pid, stat in _live_pids() if stat[2] == sid)


def children_of(pid):
    return sorted(child for child, stat in _live_pids() if stat[1] == pid)


def processes_with_env(marker):
    """Live processes whose environment holds `marker` (b"NAME=value"): the processes of
    this test's shell steps, wherever they were started."""
    found = []
    needle = marker + b"\0"
    for pid, _ in _live_pids():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if needle in environ:
            found.append(pid)
    return sorted(found)


# --- the deployment's database, read from the test ----------------------------------


class DatabaseAway(Exception):
    """The deployment's database did not answer."""


class DatabaseView:
    """Read-only SQL against the deployment's database (SQLite file or PostgreSQL),
    without Django: what the test sees does not depend on the code under test."""

    def __init__(self, deployment):
        self.url = deployment.env.get("DATABASE_URL")
        self.path = deployment.data_dir / "jobsite.db"
        self.conn = None

    def _connect(self):
        if self.conn is None:
            if self.url:
                import psycopg

                self.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=3)
            else:
                self.conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        return self.conn

    def rows(self, sql):
        import psycopg

        try:
            return self._connect().execute(sql).fetchall()
        except (sqlite3.OperationalError, psycopg.OperationalError, psycopg.InterfaceError) as exc:
            self.close()
            raise DatabaseAway(str(exc)) from exc

    def scalar(self, sql):
        return self.rows(sql)[0][0]

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001 - a dead connection may refuse to close
                pass
            self.conn = None

    # What the tests ask about.

    def job_statuses(self):
        return Counter(dict(self.rows("SELECT status, COUNT(*) FROM jobs_job GROUP BY status")))

    def unfinished_jobs(self):
        marks = ", ".join(f"'{status}'" for status in TERMINAL)
        return self.scalar(f"SELECT COUNT(*) FROM jobs_job WHERE status NOT IN ({marks})")

    def running_on(self, host):
        return self.scalar(
            f"SELECT COUNT(*) FROM jobs_steprun WHERE status = 'running' AND worker_id LIKE '{host}:%'"
        )

    def worker_losses(self):
        """How many attempts the reaper took from a dead worker: step events running →
        retrying/lost with the error "worker lost"."""
        losses = 0
        for (data,) in self.rows("SELECT data FROM jobs_jobevent WHERE kind = 'step.status'"):
            data = json.loads(data) if isinstance(data, str) else data
            losses += data.get("from") == "running" and data.get("error") == "worker lost"
        return losses

    def timeline(self, job):
        """A job's events as readable lines, to explain a failure."""
        rows = self.rows(
            "SELECT created_at, step_id, message, data FROM jobs_jobevent"
            f" WHERE job_id = '{job_key(job)}' AND kind != 'log' ORDER BY seq"
        )
        return [f"{row[0]} {row[1] or '-'}: {row[2]}" for row in rows]

    def steps(self):
        """Every step run with its job: a list of dicts."""
        rows = self.rows(
            "SELECT s.job_id, s.step_id, s.status, s.attempt, s.idempotent, s.worker_id, s.error,"
            " j.status, j.error FROM jobs_steprun s JOIN jobs_job j ON j.id = s.job_id"
        )
        names = (
            "job",
            "step",
            "status",
            "attempt",
            "idempotent",
            "worker",
            "error",
            "job_status",
            "job_error",
        )
        return [dict(zip(names, (job_key(row[0]), *row[1:]), strict=True)) for row in rows]


# --- a workload of shell steps with countable side effects --------------------------

# Each step records "$JOBSITE_JOB_ID" in <step>.executions when it starts (every
# execution, so re-runs are visible) and in <step>.effects as its side effect, then
# sleeps, so a kill can land before or after the side effect. A sandboxed step cannot
# write a file of the host, so it records them as a real step would call an outside
# service: over HTTP, to the EffectsServer in the test process, which appends the lines.
#
# `record` is idempotent for real: the server appends its effect only when the line is
# not there yet (`?once`), so a re-run after a lost worker changes nothing. `charge` is
# not: it appends unconditionally, and the engine must never run it twice.
RECORD_STEP = """
  - id: record
    type: shell
    idempotent: true
    retries: 5
    retry_backoff: 0.2
    with:
      env: {{EFFECTS_URL: "{effects_url}", CHAOS_RUN: "{token}"}}
      script: |
        curl -fsS -X POST "$EFFECTS_URL/record.executions/$JOBSITE_JOB_ID"
        sleep "$VAR_PAUSE"
        curl -fsS -X POST "$EFFECTS_URL/record.effects/$JOBSITE_JOB_ID?once"
        sleep "$VAR_PAUSE"
"""
CHARGE_STEP = """
  - id: charge
    type: shell{needs}
    with:
      env: {{EFFECTS_URL: "{effects_url}", CHAOS_RUN: "{token}"}}
      script: |
        curl -fsS -X POST "$EFFECTS_URL/charge.executions/$JOBSITE_JOB_ID"
        sleep "$VAR_PAUSE"
        curl -fsS -X POST "$EFFECTS_URL/charge.effects/$JOBSITE_JOB_ID"
        sleep "$VAR_PAUSE"
"""


class EffectsServer:
    """Appends the lines the workload's steps POST to `/<file>/<line>` to that file of
    `directory`; with `?once`, only when the file does not hold the line yet. Runs on
    127.0.0.1 in a daemon thread of the test process, beside the faults it survives."""

    def __init__(self, directory):
        lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                path, _, query = self.path.partition("?")
                name, line = path.strip("/").split("/", 1)
                with lock:
                    target = directory / name
                    if query != "once" or line not in target.read_text().split():
                        with open(target, "a") as f:
                            f.write(line + "\n")
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


TEMPLATE_HEAD = """slug: {slug}
name: {slug}
variables:
  pause: {{type: number, default: 0.2}}
steps:"""

# Each job's kind, and which of its steps exist: the idempotent step alone, the
# non-idempotent one alone, or both in a row.
KINDS = {
    "chaos-record": ("record",),
    "chaos-charge": ("charge",),
    "chaos-record-then-charge": ("record", "charge"),
}

CREATE_JOBS = """
import json
import time
from jobs.services import create_job
from jobsite.models import Workspace
from tests.jobs.helpers import make_template

plan = json.load(open({plan!r}))
workspace, _ = Workspace.objects.get_or_create(slug="chaos", defaults={{"name": "Chaos"}})
templates = {{slug: make_template(workspace, source) for slug, source in plan["templates"].items()}}
for slug, pause in plan["jobs"]:
    create_job(workspace, template=templates[slug], variables={{"pause": pause}})
    time.sleep(plan["pace"])
print("created", len(plan["jobs"]), flush=True)
"""


class Workload:
    """`jobs` seeded jobs of KINDS; each step sleeps 2 × pause (pause in `pauses`)."""

    def __init__(
        self, deployment, *, jobs=200, seed=0, kinds=tuple(KINDS), weights=None, pauses=(0.1, 0.5)
    ):
        self.deployment = deployment
        self.effects_dir = deployment.data_dir / "effects"
        self.effects_dir.mkdir(exist_ok=True)
        for name in ("record", "charge"):
            for suffix in ("executions", "effects"):
                (self.effects_dir / f"{name}.{suffix}").touch()
        self.effects_server = EffectsServer(self.effects_dir)
        self.token = deployment.token
        rng = random.Random(seed)
        chosen = rng.choices(kinds, weights=weights, k=jobs)
        self.jobs = [(slug, round(rng.uniform(*pauses), 2)) for slug in chosen]
        self.kinds = Counter(chosen)

    def template_source(self, slug):
        fill = {"effects_url": self.effects_server.url, "token": self.token}
        source = TEMPLATE_HEAD.format(slug=slug)
        if "record" in KINDS[slug]:
            source += RECORD_STEP.format(**fill)
        if "charge" in KINDS[slug]:
            needs = "\n    needs: [record]" if "record" in KINDS[slug] else ""
            source += CHARGE_STEP.format(needs=needs, **fill)
        return source

    def start_creating(self, pace=0.0):
        """Create the jobs (started at once, `pace` seconds apart) from a separate
        `manage.py shell`; returns its process, so faults can strike while jobs are still
        arriving."""
        plan = self.deployment.data_dir / "plan.json"
        templates = {slug: self.template_source(slug) for slug in self.kinds}
        plan.write_text(json.dumps({"templates": templates, "jobs": self.jobs, "pace": pace}))
        return self.deployment.start(
            "shell", "-c", CREATE_JOBS.format(plan=str(plan)), log_name="create-jobs"
        )

    def lines(self, name):
        """How many times each job wrote to the file `name` (e.g. 'record.effects')."""
        text = (self.effects_dir / name).read_text()
        return Counter(job_key(line) for line in text.split())


# --- the deployment ------------------------------------------------------------------


class ChaosDeployment(Deployment):
    """A Deployment that remembers the sessions it started and can kill a worker host
    the way a crash does."""

    def __init__(self, tmp_path, *, database="sqlite", broker="orm", workers=8, env=None):
        self.pg_name = None
        database_url = None
        if database == "postgres":
            database_url, self.pg_name = fresh_postgres_url(PG)
        super().__init__(
            tmp_path,
            database_url=database_url,
            broker=broker,
            redis_url=REDIS if broker == "redis" else None,
            workers=workers,
        )
        self.env.update(FAST_LEASES)
        self.env.update(env or {})
        self.token = uuid.uuid4().hex
        self.sessions = []
        self.hosts = 0
        self.db = DatabaseView(self)
        self.label = f"{database}+{broker}"

    @property
    def lease_seconds(self):
        return float(self.env["JOBSITE_LEASE_SECONDS"])

    @property
    def dispatch_interval(self):
        return float(self.env["JOBSITE_DISPATCH_INTERVAL"])

    def start(self, *args, log_name="proc"):
        proc = super().start(*args, log_name=log_name)
        self.sessions.append(proc.pid)
        return proc

    def start_worker_host(self):
        """Start `manage.py worker` (cluster + dispatcher) under a new host id, so the
        steps each incarnation claimed can be told apart. Returns (process, host id)."""
        self.hosts += 1
        host = f"chaos-{self.hosts}"
        self.env["JOBSITE_WORKER_ID"] = host
        return self.start("worker", log_name=f"worker-{host}"), host

    def kill_worker_host(self, proc, timeout=5.0):
        """SIGKILL the worker command's process group, as a crash (or the OOM killer's
        `kill -9` of the host's main process) would. Returns the processes of its
        session still alive `timeout` seconds later: there should be none."""
        self.kill(proc)
        deadline = time.monotonic() + timeout
        while (survivors := processes_in_session(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        return survivors

    def start_web(self):
        """`gunicorn jobsite.wsgi` on a free port, as on a web host; returns its base URL
        once it answers /healthz."""
        port = free_port()
        log = open(self.data_dir / "web.log", "ab")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "jobsite.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--access-logfile",
                "-",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(proc)
        self.sessions.append(proc.pid)
        base = f"http://127.0.0.1:{port}"
        assert self.wait_for(lambda: http_get(base + "/healthz")[0] == 200, timeout=30), (
            "gunicorn did not start"
        )
        return base

    def step_processes(self):
        return processes_with_env(f"CHAOS_RUN={self.token}".encode())

    def tear_down(self):
        """Stop everything; SIGKILL whatever escaped (and return it, so the test fails)."""
        try:
            self.stop_all()
        finally:
            leftovers = sorted(
                {pid for sid in self.sessions for pid in processes_in_session(sid)}
                | set(self.step_processes())
            )
            for pid in leftovers:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.db.close()
            if self.pg_name:
                drop_postgres_database(PG, self.pg_name)
        return leftovers


@pytest.fixture
def chaos_deployment(tmp_path):
    """chaos_deployment(database=, broker=, workers=, env=) → a migrated ChaosDeployment.
    Everything it started is stopped at teardown; a process left behind is an error."""
    made = []

    def make(**kwargs):
        deployment = ChaosDeployment(tmp_path / f"d{len(made)}", **kwargs)
        made.append(deployment)
        deployment.manage("migrate", "--noinput", "-v", "0")
        # The web runs with DEBUG=0, so pages read hashed static names from the manifest
        # that collectstatic writes (as `serve` and docs/deploy.md do before gunicorn).
        deployment.manage("collectstatic", "--noinput", "-v", "0")
        return deployment

    yield make
    leftovers = []
    for deployment in made:
        leftovers += deployment.tear_down()
    assert not leftovers, f"processes left behind (killed now): {leftovers}"


# --- taking services away, always giving them back --------------------------------------


def _postgres_cluster():
    versions = sorted(
        os.listdir("/etc/postgresql"), key=lambda v: [int(p) for p in v.split(".") if p.isdigit()]
    )
    return versions[-1], "main"


def postgres_answers(url=None):
    import psycopg

    try:
        with psycopg.connect(url or PG, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False


@contextmanager
def postgres_stopped():
    """Stop the PostgreSQL server for the duration of the block; start it again in a
    `finally`, whatever happens, and wait until it answers."""
    version, name = _postgres_cluster()
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", version, name]
    subprocess.run([*command, "stop", "-m", "fast"], check=True, capture_output=True, timeout=60)
    try:
        yield
    finally:
        started = subprocess.run([*command, "start"], capture_output=True, text=True, timeout=60)
        deadline = time.monotonic() + 30
        while not postgres_answers() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert postgres_answers(), f"PostgreSQL did not come back: {started.stdout}{started.stderr}"


def redis_answers(url):
    import redis

    try:
        return redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False


def redis_restarted_empty(url, down_seconds=2.0):
    """Shut the Redis server down without saving, keep it down `down_seconds` and start
    it again empty — a restart that lost everything. The start is in a `finally`: Redis
    is never left down."""
    import redis

    parts = urlsplit(url)
    port = str(parts.port or 6379)
    try:
        try:
            redis.from_url(url).shutdown(nosave=True)
        except redis.ConnectionError:
            pass  # the server closes the connection as it goes
        deadline = time.monotonic() + 10
        while redis_answers(url) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(down_seconds)
    finally:
        if not redis_answers(url):
            subprocess.run(
                [
                    "redis-server",
                    "--daemonize",
                    "yes",
                    "--bind",
                    "127.0.0.1",
                    "-::1",
                    "--port",
                    port,
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    "/var/lib/redis",
                    "--logfile",
                    "/var/log/redis/ci.log",
                ],
                check=True,
                capture_output=True,
                timeout=30,
            )
        deadline = time.monotonic() + 10
        while not redis_answers(url) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert redis_answers(url), "Redis did not come back"
