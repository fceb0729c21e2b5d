"""Run jobsite's own commands as subprocesses against a throwaway database: the real
thing, as an operator would run it. Used by the end-to-end and chaos tests."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent


def fresh_postgres_url(base_url, prefix="jobsite_t_"):
    """Create an empty database on the server of base_url; return (its URL, its name)."""
    import psycopg

    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(path=f"/{name}")), name


def drop_postgres_database(base_url, name, patience=60):
    """Drop our database, waiting out a server restart (the chaos suite restarts
    PostgreSQL on purpose)."""
    import psycopg

    deadline = time.monotonic() + patience
    while True:
        try:
            with psycopg.connect(base_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                print(f"warning: could not drop database {name}; drop it by hand", file=sys.stderr)
                return
            time.sleep(1)


def wait_until(predicate, timeout, interval=0.05):
    """True as soon as predicate() is, False when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


class Deployment:
    """One jobsite deployment: its environment, and the processes started for it."""

    def __init__(self, tmp_path, database_url=None, broker="orm", redis_url=None, workers=2):
        self.data_dir = tmp_path / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("DATABASE_URL", "JOBSITE_", "PYTEST"))
            },
            "JOBSITE_DATA_DIR": str(self.data_dir),
            "SECRET_KEY": "test-" + uuid.uuid4().hex,
            # The real settings, not the test ones pytest runs with.
            "DJANGO_SETTINGS_MODULE": "jobsite.settings",
            "JOBSITE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "JOBSITE_BROKER": broker,
            "JOBSITE_QUEUE_NAME": "t" + uuid.uuid4().hex[:8],
            "JOBSITE_WORKERS": str(workers),
            "JOBSITE_HEARTBEAT_SECONDS": "1",
            "JOBSITE_LEASE_SECONDS": "5",
            "PYTHONUNBUFFERED": "1",
        }
        if "JOBSITE_SANDBOX" in os.environ:
            # CI requires the step sandbox (JOBSITE_SANDBOX=bwrap): so do its deployments.
            self.env["JOBSITE_SANDBOX"] = os.environ["JOBSITE_SANDBOX"]
        if database_url:
            self.env["DATABASE_URL"] = database_url
        if redis_url:
            self.env["REDIS_URL"] = redis_url
        self.processes = []

    def manage(self, *args, timeout=120, check=True):
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"manage.py {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def start(self, *args, log_name="proc"):
        """Start a long-running manage.py command in its own process group."""
        log = open(self.data_dir / f"{log_name}.log", "ab")
        proc = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(proc)
        return proc

    def kill(self, proc, sig=signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)

    def stop_all(self):
        for proc in self.processes:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
            self.kill(proc)
        self.processes.clear()

    def wait_for(self, predicate, timeout=60, interval=0.2):
        return wait_until(predicate, timeout, interval)
