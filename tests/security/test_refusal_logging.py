"""An expected refusal writes one line to the server log at most, never a traceback
(issue 12 item 8: every 403 wrote one)."""

import logging

import pytest


@pytest.fixture
def server_log(caplog):
    caplog.set_level(logging.INFO)
    return caplog


def test_a_viewer_refused_an_admin_page_leaves_one_line_and_no_traceback(
    client, viewer_user, server_log
):
    client.force_login(viewer_user)
    response = client.get("/settings/members/")
    assert response.status_code == 403
    records = [r for r in server_log.records if r.name.startswith("django")]
    assert len(records) <= 1
    assert all(r.exc_info is None and r.exc_text is None for r in server_log.records)
    assert "Traceback" not in server_log.text


def test_a_refused_api_call_and_a_bad_host_leave_no_traceback(client, viewer_user, server_log):
    client.force_login(viewer_user)
    assert client.post("/api/v1/keys/", {}, content_type="application/json").status_code == 403
    assert client.get("/", HTTP_HOST="evil.example").status_code == 400
    assert all(r.exc_info is None for r in server_log.records)
    assert "Traceback" not in server_log.text


def test_a_server_error_still_logs_its_traceback(client, viewer_user, server_log, monkeypatch):
    from jobs.views import dashboard

    def broken(*args, **kwargs):
        raise RuntimeError("a real bug")

    monkeypatch.setattr(dashboard, "render", broken)
    client.raise_request_exception = False
    client.force_login(viewer_user)
    assert client.get("/").status_code == 500
    assert any(r.exc_info for r in server_log.records if r.name == "django.request")
