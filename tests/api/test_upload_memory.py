"""A 200 MB upload to a real server (gunicorn on 127.0.0.1) never makes the server's
memory grow past 150 MB: the body is streamed to storage, never held whole."""

import hashlib
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.api.test_generated_client import free_port, served
from tests.worker_cluster import Deployment, wait_until

pytestmark = pytest.mark.slow

SIZE = 200 * 1024 * 1024
CHUNK = 1024 * 1024
RSS_LIMIT_MB = 150


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    pids += [int(child) for child in children]
    for one in pids:
        try:
            match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{one}/status").read_text())
        except OSError:
            continue
        if match:
            total += int(match.group(1))
    return total / 1024


def chunks(prefix=b"", suffix=b""):
    block = bytes(range(256)) * (CHUNK // 256)
    yield prefix
    for _ in range(SIZE // CHUNK):
        yield block
    yield suffix


@pytest.fixture
def server(tmp_path):
    deploy = Deployment(tmp_path / "site")
    deploy.manage("migrate", "--noinput", "-v", "0")
    out = deploy.manage("demo", "--password", "demo-pass").stdout
    key = re.search(r"(jsk_\S+)", out).group(1)
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "jobsite.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "2",
            "--timeout",
            "120",
        ],
        cwd=Path(__file__).resolve().parents[2],
        env=deploy.env,
        start_new_session=True,
        stdout=open(tmp_path / "gunicorn.log", "ab"),
        stderr=subprocess.STDOUT,
    )
    deploy.processes.append(proc)
    assert wait_until(lambda: served(f"http://127.0.0.1:{port}/healthz"), 30)
    yield {"port": port, "key": key, "pid": proc.pid}
    deploy.stop_all()


def send(server, path, headers, body_chunks, length):
    conn = http.client.HTTPConnection("127.0.0.1", server["port"], timeout=300)
    conn.putrequest("POST", path)
    for name, value in {
        **headers,
        "Authorization": f"Bearer {server['key']}",
        "Content-Length": str(length),
    }.items():
        conn.putheader(name, value)
    conn.endheaders()
    for chunk in body_chunks:
        conn.send(chunk)
    response = conn.getresponse()
    return response.status, json.loads(response.read())


@pytest.mark.parametrize("kind", ["raw", "multipart"])
def test_a_200_mb_upload_keeps_the_server_under_150_mb(server, kind):
    expected = hashlib.sha256()
    for chunk in chunks():
        expected.update(chunk)
    peak = {"mb": rss_mb(server["pid"])}
    done = threading.Event()

    def watch():
        while not done.is_set():
            peak["mb"] = max(peak["mb"], rss_mb(server["pid"]))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.monotonic()
    try:
        if kind == "raw":
            status, answer = send(
                server,
                "/api/v1/uploads/?name=big.bin",
                {"Content-Type": "application/octet-stream"},
                chunks(),
                SIZE,
            )
        else:
            boundary = "jobsite-test-boundary"
            head = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            tail = f"\r\n--{boundary}--\r\n".encode()
            status, answer = send(
                server,
                "/api/v1/uploads/",
                {"Content-Type": f"multipart/form-data; boundary={boundary}"},
                chunks(head, tail),
                len(head) + SIZE + len(tail),
            )
    finally:
        done.set()
        watcher.join()
    seconds = time.monotonic() - started
    print(f"\n{kind}: 200 MB in {seconds:.1f} s, server peak RSS {peak['mb']:.1f} MB")
    if os.environ.get("JOBSITE_UPLOAD_RSS_REPORT"):
        with open(os.environ["JOBSITE_UPLOAD_RSS_REPORT"], "a") as report:
            report.write(f"{kind} {seconds:.1f}s peak_rss_mb={peak['mb']:.1f}\n")
    assert status == 201, answer
    assert answer["size"] == SIZE and answer["sha256"] == expected.hexdigest()
    assert peak["mb"] < RSS_LIMIT_MB
