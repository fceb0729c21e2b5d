import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jobs.executors.base import FAILED, SUCCEEDED, StepContext
from jobs.executors.http import HttpExecutor

TOKEN = "Bearer sekrit-token-123"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def handle(self):
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (the timeout tests)

    def reply(self, status, body, content_type="application/json", extra_headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra_headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.server.seen.append((self.command, self.path, dict(self.headers)))
        if self.path == "/json":
            self.reply(200, {"hello": "world"}, extra_headers=[("X-Trace", "a"), ("X-Trace", "b")])
        elif self.path == "/status/500":
            self.reply(500, b"nope", "text/plain")
        elif self.path == "/big":
            self.reply(200, b"x" * (100 * 1024), "text/plain")
        elif self.path == "/slow":
            time.sleep(1.5)
            self.reply(200, b"late", "text/plain")
        elif self.path.startswith("/redirect-to/"):
            self.send_response(302)
            self.send_header("Location", "http://" + self.path.removeprefix("/redirect-to/"))
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.reply(404, b"not found", "text/plain")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length).decode()
        self.server.seen.append((self.command, self.path, dict(self.headers)))
        self.reply(201, {"received": body, "content_type": self.headers.get("Content-Type")})


def start_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.seen = []
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return server


def stop_server(server):
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch):
    for name in (
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def egress_allows_the_test_servers(settings):
    """The test servers listen on 127.0.0.1, which the egress policy refuses by default."""
    settings.JOBSITE_EGRESS_ALLOW = ["127.0.0.1"]


@pytest.fixture(scope="module")
def running_server():
    server = start_server()
    yield server
    stop_server(server)


@pytest.fixture
def server(running_server):
    running_server.seen.clear()
    return running_server


def base(server):
    return f"http://127.0.0.1:{server.server_address[1]}"


def run(with_, **kwargs):
    ctx = StepContext(with_=with_, **kwargs)
    return HttpExecutor().run(ctx), ctx


def test_get_returns_status_lowercased_headers_and_parsed_json(server):
    outcome, ctx = run({"url": base(server) + "/json"})

    assert outcome.status == SUCCEEDED, outcome.error
    assert outcome.outputs["status"] == 200
    assert outcome.outputs["json"] == {"hello": "world"}
    assert "text" not in outcome.outputs
    assert outcome.outputs["headers"]["content-type"] == "application/json"
    assert outcome.outputs["headers"]["x-trace"] == "a, b"
    ((level, message),) = ctx.logs
    assert level == "INFO"
    assert message.startswith(f"GET {base(server)}/json → 200 in ")
    assert message.endswith(" ms")


def test_post_json_sends_a_json_body(server):
    outcome, _ = run({"method": "post", "url": base(server) + "/items", "json": {"n": [1, 2]}})

    assert outcome.status == SUCCEEDED, outcome.error
    assert outcome.outputs["status"] == 201
    assert outcome.outputs["json"] == {
        "received": '{"n": [1, 2]}',
        "content_type": "application/json",
    }


def test_a_string_body_is_sent_as_is_with_the_given_headers(server):
    with_ = {
        "method": "POST",
        "url": base(server) + "/items",
        "body": "a=1&b=2",
        "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        "expected_status": [201],
    }
    outcome, _ = run(with_)

    assert outcome.status == SUCCEEDED, outcome.error
    assert outcome.outputs["json"]["received"] == "a=1&b=2"
    assert outcome.outputs["json"]["content_type"] == "application/x-www-form-urlencoded"


def test_an_unexpected_status_fails_but_keeps_the_response(server):
    outcome, _ = run({"url": base(server) + "/status/500"})

    assert outcome.status == FAILED
    assert outcome.error == "unexpected status 500"
    assert outcome.outputs["status"] == 500
    assert outcome.outputs["text"] == "nope"


def test_expected_status_accepts_listed_codes_and_rejects_others(server):
    assert (
        run({"url": base(server) + "/status/500", "expected_status": [500]})[0].status == SUCCEEDED
    )
    outcome, _ = run({"url": base(server) + "/json", "expected_status": [204]})
    assert outcome.status == FAILED
    assert outcome.error == "unexpected status 200"


def test_a_large_body_is_capped_at_64_kib_and_says_so(server):
    outcome, ctx = run({"url": base(server) + "/big"})

    assert outcome.status == SUCCEEDED
    assert len(outcome.outputs["text"]) == 64 * 1024
    assert ("WARN", "response body cut to the first 64 KiB") in ctx.logs


def test_connection_refused_fails_with_a_clear_message():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outcome, _ = run({"url": f"http://127.0.0.1:{port}/x", "headers": {"Authorization": TOKEN}})

    assert outcome.status == FAILED
    assert outcome.error == f"GET http://127.0.0.1:{port}/x failed: connection refused"


def test_a_slow_server_fails_after_the_timeout(server):
    started = time.monotonic()
    outcome, _ = run({"url": base(server) + "/slow", "timeout": 0.3})

    assert outcome.status == FAILED
    assert outcome.error.endswith("failed: no response within 0.3 s")
    assert time.monotonic() - started < 1.2


def test_the_steps_own_timeout_bounds_the_request(server):
    outcome, _ = run({"url": base(server) + "/slow"}, timeout=0.3)
    assert outcome.status == FAILED
    assert outcome.error.startswith("timed out after")


def test_header_values_are_sent_but_never_logged(server):
    outcome, ctx = run({"url": base(server) + "/json", "headers": {"Authorization": TOKEN}})

    assert outcome.status == SUCCEEDED
    assert server.seen[0][2]["Authorization"] == TOKEN
    assert "sekrit" not in repr(ctx.logs)


def test_credentials_are_not_forwarded_to_another_host_on_redirect(server):
    other = start_server()
    try:
        target = f"127.0.0.1:{other.server_address[1]}/json"
        outcome, _ = run(
            {
                "url": f"{base(server)}/redirect-to/{target}",
                "headers": {"Authorization": TOKEN, "X-Kept": "1"},
            }
        )
    finally:
        stop_server(other)

    assert outcome.status == SUCCEEDED, outcome.error
    headers = other.seen[0][2]
    assert "Authorization" not in headers
    assert headers["X-Kept"] == "1"


def test_user_and_password_in_the_url_are_not_logged(server):
    url = base(server).replace("http://", "http://me:pa55@") + "/json"
    _, ctx = run({"url": url})
    assert "pa55" not in repr(ctx.logs)


@pytest.mark.parametrize(
    ("with_", "problem"),
    [
        ({"url": "ftp://example.invalid/x"}, ("url", "must start with http:// or https://")),
        ({"url": "/relative"}, ("url", "must start with http:// or https://")),
        ({}, ("url", "is required")),
        (
            {"url": "https://x.test", "method": "FETCH"},
            ("method", "must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
        ),
        (
            {"url": "https://x.test", "expected_status": ["200"]},
            ("expected_status", "must be a list of status codes (100–599)"),
        ),
        (
            {"url": "https://x.test", "json": {}, "body": ""},
            (None, "give either 'json' or 'body', not both"),
        ),
        (
            {"url": "https://x.test", "timeout": 0},
            ("timeout", "must be a number of seconds greater than 0"),
        ),
        (
            {"url": "https://x.test", "headers": {"Bad Name": "x"}},
            ("headers", "'Bad Name' is not a valid header name"),
        ),
    ],
)
def test_validate_rejects_malformed_requests(with_, problem):
    assert problem in HttpExecutor().validate(with_)


def test_validate_skips_the_scheme_check_for_a_templated_url():
    assert (
        HttpExecutor().validate({"url": "{{ vars.base_url }}/orders", "timeout": "{{ vars.t }}"})
        == []
    )


def test_a_templated_url_that_is_not_http_fails_at_run_time():
    outcome, _ = run({"url": "file:///etc/passwd"})
    assert outcome.status == FAILED
    assert outcome.error == "url must start with http:// or https://"
