"""`serve`'s access log redacts query string values (issue 12 item 8): a trigger key in
`?key=jtk_…` and a token in `?api_token=…` used to be written in clear."""

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from jobs.management.commands.serve import web_command
from jobsite.access_log import redact_query, redact_uri

ROOT = Path(__file__).resolve().parents[2]


def test_query_values_are_replaced_and_names_kept():
    assert (
        redact_query("key=jtk_S3CR3T&api_token=abc%20def&flag&empty=")
        == "key=***&api_token=***&flag&empty="
    )
    assert (
        redact_uri("/api/hooks/acme/greet/trigger/?key=jtk_S3CR3T")
        == "/api/hooks/acme/greet/trigger/?key=***"
    )
    assert redact_uri("/healthz") == "/healthz"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_the_served_access_log_shows_no_query_string_secret(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "SECRET_KEY": "access-log-test-" + "x" * 40,
        "DEBUG": "0",
        "JOBSITE_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    log_path = tmp_path / "web.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            web_command(f"127.0.0.1:{port}", 1),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}/healthz?key=jtk_S3CR3T-abc&api_token=tok-S3CR3T"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(
                    urllib.request.Request(
                        url, headers={"Referer": "http://x.example/page?key=jtk_S3CR3T-ref"}
                    ),
                    timeout=2,
                ).read()
                break
            except (urllib.error.URLError, OSError):
                assert time.monotonic() < deadline and proc.poll() is None, log_path.read_text()
                time.sleep(0.2)
        deadline = time.monotonic() + 5
        while "/healthz?" not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    text = log_path.read_text()
    assert '"GET /healthz?key=***&api_token=*** HTTP/1.1" 200' in text, text
    assert "S3CR3T" not in text
