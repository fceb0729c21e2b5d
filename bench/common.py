"""What the benchmarks share: a throwaway deployment, the fixtures they run, small
statistics and the report.

Every benchmark reports RATIOS measured side by side in one run (jobsite ÷ the stack it
stands on, or big ÷ small): absolute times on a shared 2-core machine are noise.

A `Bench` is one deployment — a temporary data dir, a fresh SQLite file or PostgreSQL
database, the django-q2 ORM broker or Redis — whose commands run as subprocesses, each
in its own process group (tests/worker_cluster.py). The benchmark process itself sets up
Django against the same database to create jobs and read the results. Leaving the `with`
block (normally, on an error, on Ctrl-C or SIGTERM) stops every process it started, by
its process group id, and drops the database.

Needs: PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 for the `pg-*` configs
(JOBSITE_BENCH_POSTGRES_URL / JOBSITE_BENCH_REDIS_URL override them); `wrk` for
api_load.py (`apt-get install -y wrk`).
"""

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests import worker_cluster  # noqa: E402
from tests.worker_cluster import Deployment, drop_postgres_database, wait_until  # noqa: E402, F401 - re-exported to the scripts

PG_URL = os.environ.get("JOBSITE_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("JOBSITE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
RESULTS_DIR = ROOT / "data" / "bench"

# name → (database, broker)
CONFIGS = {
    "sqlite-orm": ("sqlite", "orm"),
    "pg-redis": ("postgres", "redis"),
    "pg-orm": ("postgres", "orm"),
}

RAW_TASK = "bench.tasks.mark"
NOOP_TEMPLATE = """
slug: bench-noop
name: Bench no-op
type: bench
steps:
  - id: noop
    type: noop
"""


class BenchAborted(Exception):
    pass


def _raise_on_signal(signum, _frame):
    raise BenchAborted(f"stopped by signal {signum}")


class Bench:
    """One throwaway deployment. Use as a context manager."""

    def __init__(self, config, *, workers=2, env=None):
        database, broker = CONFIGS[config]
        self.config = config
        self.database, self.broker = database, broker
        self.db_name = None
        database_url = None
        if database == "postgres":
            # First, so that a server that is away leaves no temporary directory behind.
            database_url, self.db_name = fresh_postgres_url(PG_URL)
        self.tmp = Path(tempfile.mkdtemp(prefix=f"jobsite-bench-{config}-"))
        self.deployment = Deployment(
            self.tmp,
            database_url=database_url,
            broker=broker,
            redis_url=REDIS_URL if broker == "redis" else None,
            workers=workers,
        )
        deployment_env = self.deployment.env
        # Production timings, not the fault tests' short leases.
        deployment_env.pop("JOBSITE_HEARTBEAT_SECONDS", None)
        deployment_env.pop("JOBSITE_LEASE_SECONDS", None)
        self.marks = self.tmp / "marks.txt"
        deployment_env.update(
            {
                "JOBSITE_BENCH_VIEWS": "1",
                "JOBSITE_BENCH_MARKS": str(self.marks),
                # The load would otherwise be answered 429 after 1200 requests a minute.
                "JOBSITE_API_RATE_LIMIT": "100000000/minute",
                "DJANGO_SETTINGS_MODULE": "jobsite.settings",
            }
        )
        deployment_env.update(env or {})
        self.env = deployment_env
        self._previous_handlers = {}

    # --- lifetime -----------------------------------------------------------------------
    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGHUP):
            self._previous_handlers[sig] = signal.signal(sig, _raise_on_signal)
        return self

    def __exit__(self, *exc):
        self.close()
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler)
        return False

    def close(self):
        for proc in list(self.deployment.processes):
            self.stop(proc)
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - Django may not be set up
            pass
        if self.db_name:
            drop_postgres_database(PG_URL, self.db_name)
            self.db_name = None
        if self.broker == "redis":
            _drop_redis_queue(self.env["JOBSITE_QUEUE_NAME"])
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- the deployment -----------------------------------------------------------------
    def migrate(self):
        self.deployment.manage("migrate", "--noinput", "-v", "0", timeout=300)

    def setup_django(self):
        """Point this process's Django at the deployment (call once, after migrate)."""
        os.environ.update(self.env)
        import django

        django.setup()

    def start(self, *args, log_name=None):
        """A long-running manage.py command in its own process group."""
        return self.deployment.start(*args, log_name=log_name or args[0])

    def start_gunicorn(self, *, workers=2, threads=4):
        """The web app as `manage.py serve` runs it (minus the access log), on a free
        port of 127.0.0.1. Returns (process, base URL)."""
        port = free_port()
        log = open(self.tmp / "data" / "gunicorn.log", "ab")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "jobsite.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--graceful-timeout",
                "5",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.deployment.processes.append(proc)
        base = f"http://127.0.0.1:{port}"
        if not wait_until(lambda: http_ok(base + "/healthz"), timeout=60):
            raise RuntimeError(
                "gunicorn did not answer /healthz within 60 s; see "
                + str(self.tmp / "data" / "gunicorn.log")
            )
        return proc, base

    def stop(self, proc, grace=15):
        """SIGTERM to the process's group, then SIGKILL to what is left of it."""
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=grace)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)
        if proc in self.deployment.processes:
            self.deployment.processes.remove(proc)

    # --- raw django-q2 tasks ------------------------------------------------------------
    def reset_marks(self):
        self.marks.write_bytes(b"")

    def read_marks(self):
        """{tag: start time} of the raw tasks that ran."""
        if not self.marks.exists():
            return {}
        marks = {}
        for line in self.marks.read_text().splitlines():
            tag, _, moment = line.partition(" ")
            marks[tag] = float(moment)
        return marks

    def mark_count(self):
        try:
            with open(self.marks, "rb") as f:
                return f.read().count(b"\n")
        except FileNotFoundError:
            return 0


def cpu_seconds_of(pid):
    """User + system CPU seconds a live process has used, or None (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fresh_postgres_url(base_url):
    """A new, empty database `jobsite_bench_…` on the server of base_url: (url, name)."""
    return worker_cluster.fresh_postgres_url(base_url, prefix="jobsite_bench_")


def drop_fresh_database(base_url, db_name):
    """Close this process's connections, then drop the database fresh_postgres_url made
    (nothing when db_name is None: the run was on SQLite)."""
    if db_name:
        from django.db import connections

        connections.close_all()
        drop_postgres_database(base_url, db_name)


def _drop_redis_queue(queue_name):
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"*{queue_name}*", count=1000))
        if keys:
            client.delete(*keys)
    except Exception:  # noqa: BLE001 - best effort
        pass


# --- fixtures --------------------------------------------------------------------------


def make_fixtures(extra_templates=()):
    """The bench workspace: an admin user, an admin API key and the no-op template (plus
    `extra_templates`, YAML texts). Returns a dict."""
    import textwrap

    from django.contrib.auth import get_user_model

    from jobsite.models import ApiKey, Membership, Role, Workspace
    from templates_app.definition import load_definition
    from templates_app.models import save_template_version

    workspace = Workspace.objects.create(slug="bench", name="Bench")
    user = get_user_model().objects.create_user("bench", "bench@example.invalid", "bench-pass")
    Membership.objects.create(workspace=workspace, user=user, role=Role.ADMIN)
    _, raw_key = ApiKey.issue(workspace, "bench", role=Role.ADMIN)
    templates = {}
    for source in (NOOP_TEMPLATE, *extra_templates):
        source = textwrap.dedent(source)
        template = save_template_version(workspace, load_definition(source), source=source)
        templates[template.slug] = template
    return {"workspace": workspace, "user": user, "key": raw_key, "templates": templates}


# --- waiting, HTTP ------------------------------------------------------------------------


def retrying(action, patience=180):
    """action(), tried again while PostgreSQL restarts (other suites on this machine stop
    and start it on purpose). The action must be safe to repeat."""
    from django.db import InterfaceError, OperationalError, close_old_connections, connection

    deadline = time.monotonic() + patience
    while True:
        try:
            return action()
        except (OperationalError, InterfaceError) as exc:
            if time.monotonic() > deadline:
                raise
            print(f"   database away ({exc.__class__.__name__}); retrying", flush=True)
            close_old_connections()
            connection.close()
            time.sleep(2)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_ok(url):
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


class ApiClient:
    """A keep-alive HTTP/1.1 connection to the API with the bench key."""

    def __init__(self, base, key):
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(base)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def request(self, method, path, body=None):
        payload = json.dumps(body).encode() if body is not None else None
        self.connection.request(method, path, body=payload, headers=self.headers)
        response = self.connection.getresponse()
        data = response.read()
        return response.status, data

    def close(self):
        self.connection.close()


# --- statistics and the report -----------------------------------------------------------


def percentile(values, pct):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * pct / 100
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def median(values):
    return statistics.median(values) if values else float("nan")


def markdown_table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    return "\n".join(lines)


def save_results(name, data):
    """Keep the raw figures of a run in data/bench/<name>.json (not committed)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str))
    return path


def run_configs(script, configs, args):
    """Run `script --config C args…` once per config, each in its own process (Django is
    set up once per process), and return what each printed as its last JSON line."""
    results = {}
    previous = signal.signal(signal.SIGTERM, _raise_on_signal)
    try:
        for config in configs:
            results[config] = _run_config(script, config, args)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return results


def _run_config(script, config, args):
    command = [sys.executable, str(script), "--config", config, *args]
    print(f"== {Path(script).name} {config}", flush=True)
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    last = None
    try:
        for line in proc.stdout:
            if line.startswith("RESULT "):
                last = json.loads(line[len("RESULT ") :])
            else:
                print("   " + line, end="", flush=True)
        proc.wait()
    except BaseException:
        proc.terminate()  # the child cleans up its deployment on SIGTERM
        proc.wait(timeout=120)
        raise
    if proc.returncode != 0 or last is None:
        raise SystemExit(f"{Path(script).name} --config {config} failed (exit {proc.returncode})")
    return last


def emit_result(data):
    """The last line a per-config run prints, read by run_configs."""
    print("RESULT " + json.dumps(data, default=str), flush=True)


def fmt(value, digits=2):
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)
