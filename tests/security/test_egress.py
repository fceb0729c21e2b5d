"""The egress policy (SPEC §15, issue 12 item 5): an operator's callback_url, an admin's
webhook endpoint and an http step reach no service on the host or its private network
unless JOBSITE_EGRESS_ALLOW lets them. Every receiver here is a real HTTP server on
127.0.0.1."""

import json
import shutil
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jobs.executors.base import FAILED, SUCCEEDED, StepContext
from jobs.executors.http import HttpExecutor
from jobs.models import DeliveryAttempt, Job, WebhookDelivery, WebhookEndpoint
from jobs.services import create_job
from tests.jobs.helpers import make_template

JOBS = "/api/v1/jobs/"
WEBHOOKS = "/api/v1/webhooks/"
OK_TEMPLATE = "slug: ok\nname: OK\nsteps:\n  - {id: s, type: noop}\n"


class InternalService:
    """A service on the host that must not be reached: it answers a secret and records
    every request; `/redirect?to=URL` answers 302 to URL."""

    def __init__(self):
        self.requests = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self):
                service.requests.append(self.path)
                if self.path.startswith("/redirect?to="):
                    self.send_response(302)
                    self.send_header("Location", self.path.removeprefix("/redirect?to="))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps({"internal": "S3CR3T-internal-token"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def internal():
    service = InternalService()
    yield service
    service.close()


@pytest.fixture(autouse=True)
def default_policy(settings, monkeypatch):
    """The shipped policy, whatever the environment running the tests says."""
    settings.JOBSITE_EGRESS_DENY = ["default"]
    settings.JOBSITE_EGRESS_ALLOW = []
    for name in (
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)


# --- known at save time: a 400 naming the field ---------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379/",
        "http://[::1]/",
        "http://10.0.0.1/",
        "ftp://files.example.com/drop",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]:6379/",
        "http://[fd00::1]/",
        "http://[fe80::1]/",
        "http://192.168.1.1/",
        "http://0.0.0.0:6379/",
        "http://localhost:6379/",
    ],
)
def test_a_callback_url_to_an_internal_destination_is_400_naming_the_field(
    operator_client, greet, url
):
    response = operator_client.post(JOBS, {"template": "greet", "callback_url": url}, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == ["callback_url"]
    assert Job.objects.count() == 0


def test_the_message_names_the_refused_address(operator_client, greet):
    response = operator_client.post(
        JOBS, {"template": "greet", "callback_url": "http://10.0.0.1/x"}, format="json"
    )
    assert response.json()["errors"]["callback_url"] == [
        "destination 10.0.0.1 is not allowed by the egress policy"
    ]


def test_a_public_callback_url_is_still_accepted(operator_client, greet):
    response = operator_client.post(
        JOBS, {"template": "greet", "callback_url": "https://93.184.215.14/hook"}, format="json"
    )
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:6379/", "http://[::1]:8080/", "http://10.0.0.1/", "http://169.254.169.254/"],
)
def test_a_webhook_endpoint_to_an_internal_destination_is_400_naming_the_field(admin_client, url):
    response = admin_client.post(WEBHOOKS, {"url": url}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["url"]
    assert WebhookEndpoint.objects.count() == 0


def test_the_settings_page_refuses_an_internal_webhook_url_beside_its_field(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        "/settings/webhooks/new/", {"url": "http://127.0.0.1:6379/", "is_active": "on"}
    )
    assert response.status_code == 400
    assert "destination 127.0.0.1 is not allowed by the egress policy" in response.content.decode()
    assert WebhookEndpoint.objects.count() == 0


def test_an_allowed_exception_is_accepted(operator_client, greet, settings):
    settings.JOBSITE_EGRESS_ALLOW = ["127.0.0.1:8000"]
    accepted = operator_client.post(
        JOBS, {"template": "greet", "callback_url": "http://127.0.0.1:8000/hook"}, format="json"
    )
    other_port = operator_client.post(
        JOBS, {"template": "greet", "callback_url": "http://127.0.0.1:6379/"}, format="json"
    )
    assert accepted.status_code == 201
    assert other_port.status_code == 400


# --- known when sending: a failed step or delivery ------------------------------------------


def run_http(with_):
    outcome = HttpExecutor().run(StepContext(with_=with_))
    return outcome


def test_an_http_step_to_a_name_resolving_to_loopback_fails_and_reaches_nothing(internal):
    outcome = run_http({"url": f"http://localhost:{internal.port}/"})
    assert outcome.status == FAILED
    assert (
        outcome.error
        == f"GET http://localhost:{internal.port}/ failed: destination 127.0.0.1 is not allowed by the egress policy"
    )
    assert "S3CR3T" not in json.dumps(outcome.outputs or {})
    assert internal.requests == []


@pytest.mark.parametrize("host", ["127.0.0.1", "[::ffff:127.0.0.1]", "127.1", "2130706433"])
def test_an_http_step_to_a_loopback_address_in_any_spelling_fails(internal, host):
    outcome = run_http({"url": f"http://{host}:{internal.port}/"})
    assert outcome.status == FAILED
    assert "is not allowed by the egress policy" in outcome.error
    assert internal.requests == []


def test_a_redirect_from_an_allowed_server_to_a_denied_address_is_refused(internal, settings):
    hidden = InternalService()
    try:
        settings.JOBSITE_EGRESS_ALLOW = [f"127.0.0.1:{internal.port}"]
        target = f"http://127.0.0.1:{hidden.port}/"
        outcome = run_http({"url": f"http://127.0.0.1:{internal.port}/redirect?to={target}"})
        metadata = run_http(
            {"url": f"http://127.0.0.1:{internal.port}/redirect?to=http://169.254.169.254/"}
        )
        scheme = run_http(
            {"url": f"http://127.0.0.1:{internal.port}/redirect?to=file:///etc/passwd"}
        )
    finally:
        hidden.close()
    assert outcome.status == FAILED
    assert outcome.error.endswith("destination 127.0.0.1 is not allowed by the egress policy")
    assert hidden.requests == []
    assert metadata.error.endswith(
        "destination 169.254.169.254 is not allowed by the egress policy"
    )
    assert scheme.status == FAILED
    assert len(internal.requests) == 3  # the allowed server saw each first request


def test_an_http_step_to_an_allowed_server_still_works(internal, settings):
    settings.JOBSITE_EGRESS_ALLOW = [f"127.0.0.1:{internal.port}"]
    outcome = run_http({"url": f"http://127.0.0.1:{internal.port}/"})
    assert outcome.status == SUCCEEDED, outcome.error


def test_a_webhook_delivery_to_a_denied_address_is_a_failed_attempt(workspace, run_tasks, internal):
    # Saved when it was allowed (or through the admin), refused when sent.
    WebhookEndpoint.objects.create(
        workspace=workspace, url=f"http://127.0.0.1:{internal.port}/hook"
    )
    create_job(workspace, template=make_template(workspace, OK_TEMPLATE))
    run_tasks()
    attempts = list(DeliveryAttempt.objects.values_list("status_code", "error", "response_excerpt"))
    assert attempts and all(
        (status, error, excerpt)
        == (None, "destination 127.0.0.1 is not allowed by the egress policy", "")
        for status, error, excerpt in attempts
    )
    assert internal.requests == []
    assert WebhookDelivery.objects.filter(status="pending").exists()  # retried like any failure


def test_a_callback_to_a_denied_address_is_a_failed_attempt(workspace, run_tasks, internal):
    create_job(
        workspace,
        template=make_template(workspace, OK_TEMPLATE),
        callback_url=f"http://[::ffff:127.0.0.1]:{internal.port}/",
    )
    run_tasks()
    (error,) = DeliveryAttempt.objects.values_list("error", flat=True)
    assert "is not allowed by the egress policy" in error
    assert internal.requests == []


def test_a_template_with_an_http_step_to_a_literal_internal_address_is_refused_at_save(
    admin_client,
):
    source = "slug: peek\nname: Peek\nsteps:\n  - {id: get, type: http, with: {url: 'http://169.254.169.254/latest/'}}\n"
    response = admin_client.post("/api/v1/templates/", source, content_type="application/yaml")
    assert response.status_code == 400, response.content
    assert "destination 169.254.169.254 is not allowed by the egress policy" in json.dumps(
        response.json()["errors"]
    )


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_https_keeps_the_host_name_for_sni_the_certificate_and_the_host_header(
    tmp_path, settings, monkeypatch
):
    # The socket goes to the checked address (127.0.0.1), but TLS and HTTP still speak to
    # "localhost": the server sees it as SNI and Host, and the certificate is verified
    # for that name.
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    seen = {}
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def record_sni(sock, server_name, ctx):
        seen["sni"] = server_name  # returns None: go on with the handshake

    context.sni_callback = record_sni

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen["host"] = self.headers["Host"]
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    port = server.server_address[1]
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        settings.JOBSITE_EGRESS_ALLOW = [f"localhost:{port}"]
        outcome = run_http({"url": f"https://localhost:{port}/"})
    finally:
        server.shutdown()
        server.server_close()
    assert outcome.status == SUCCEEDED, outcome.error
    assert seen == {"sni": "localhost", "host": f"localhost:{port}"}
