"""Who may call the API, in which workspace, and how often (SPEC §6.1, issue 4 items 3–4)."""

import warnings
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.core.cache.backends.base import CacheKeyWarning
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from jobsite.api import throttling
from jobsite.models import ApiKey, Membership, Role, Workspace
from tests.api.conftest import client_for

WORKSPACE_URL = "/api/v1/workspace/"


def test_a_request_without_a_key_is_401_with_a_bearer_challenge(db):
    response = APIClient().get(WORKSPACE_URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json() == {
        "detail": "Authentication credentials were not provided.",
        "code": "not_authenticated",
    }


def test_a_wrong_key_is_401_with_a_bearer_challenge(db):
    response = client_for("jsk_not-a-real-key").get(WORKSPACE_URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["code"] == "authentication_failed"


def test_an_empty_bearer_token_is_401(db):
    response = APIClient(HTTP_AUTHORIZATION="Bearer ").get(WORKSPACE_URL)
    assert response.status_code == 401


def test_a_key_works_as_bearer_and_as_x_api_key(workspace, api_key):
    raw = api_key(Role.VIEWER)
    for client in (client_for(raw), client_for(None, HTTP_X_API_KEY=raw)):
        response = client.get(WORKSPACE_URL)
        assert response.status_code == 200
        assert response.json() == {
            "id": str(workspace.pk),
            "slug": "acme",
            "name": "Acme",
            "role": "viewer",
            "actor": "key:viewer-key",
        }


def test_a_revoked_key_stops_working_with_the_next_request(workspace):
    key, raw = ApiKey.issue(workspace, "ci", role=Role.ADMIN)
    client = client_for(raw)
    assert client.get(WORKSPACE_URL).status_code == 200
    key.revoke()
    assert client.get(WORKSPACE_URL).status_code == 401


def test_an_expired_key_is_refused(workspace):
    _, raw = ApiKey.issue(
        workspace, "old", role=Role.ADMIN, expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert client_for(raw).get(WORKSPACE_URL).status_code == 401


def test_last_used_at_is_written_at_most_once_a_minute(workspace, django_assert_num_queries):
    key, raw = ApiKey.issue(workspace, "busy", role=Role.VIEWER)
    client = client_for(raw)
    client.get(WORKSPACE_URL)
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None
    # A second request within the minute reads the key and writes nothing.
    with django_assert_num_queries(1):
        client.get(WORKSPACE_URL)
    key.refresh_from_db()
    assert key.last_used_at == first
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - timedelta(minutes=2))
    client.get(WORKSPACE_URL)
    key.refresh_from_db()
    assert key.last_used_at > first


def test_a_workspace_header_naming_the_keys_own_workspace_is_fine(workspace, api_key):
    client = client_for(
        api_key(Role.VIEWER), HTTP_X_WORKSPACE_SLUG="acme", HTTP_X_WORKSPACE_ID=str(workspace.pk)
    )
    assert client.get(WORKSPACE_URL).status_code == 200


def test_a_workspace_header_naming_another_workspace_is_403_the_same_whether_it_exists_or_not(
    workspace, other_workspace, api_key
):
    raw = api_key(Role.ADMIN)
    existing = client_for(raw, HTTP_X_WORKSPACE_SLUG=other_workspace.slug).get(WORKSPACE_URL)
    missing = client_for(raw, HTTP_X_WORKSPACE_SLUG="no-such-workspace").get(WORKSPACE_URL)
    by_id = client_for(raw, HTTP_X_WORKSPACE_ID=str(other_workspace.pk)).get(WORKSPACE_URL)
    bad_id = client_for(raw, HTTP_X_WORKSPACE_ID="not-a-uuid").get(WORKSPACE_URL)
    assert {r.status_code for r in (existing, missing, by_id, bad_id)} == {403}
    assert existing.content == missing.content == by_id.content == bad_id.content


def _user_in(*workspaces, role=Role.OPERATOR):
    user = get_user_model().objects.create_user("sam", "sam@example.invalid", "pw")
    for ws in workspaces:
        Membership.objects.create(workspace=ws, user=user, role=role)
    client = APIClient()
    client.force_login(user)
    return client


def test_a_session_user_with_one_workspace_needs_no_header(workspace):
    response = _user_in(workspace).get(WORKSPACE_URL)
    assert response.status_code == 200
    assert response.json()["actor"] == "user:sam"


def test_a_session_user_in_several_workspaces_must_name_one(workspace, other_workspace):
    client = _user_in(workspace, other_workspace)
    response = client.get(WORKSPACE_URL)
    assert response.status_code == 400
    assert response.json()["code"] == "workspace_required"
    assert client.get(WORKSPACE_URL, HTTP_X_WORKSPACE_SLUG="outsider").json()["slug"] == "outsider"
    assert client.get(WORKSPACE_URL, HTTP_X_WORKSPACE_ID=str(workspace.pk)).json()["slug"] == "acme"


def test_a_session_user_naming_a_workspace_they_are_not_in_gets_403(workspace, other_workspace):
    client = _user_in(workspace)
    assert client.get(WORKSPACE_URL, HTTP_X_WORKSPACE_SLUG="outsider").status_code == 403
    assert client.get(WORKSPACE_URL, HTTP_X_WORKSPACE_SLUG="nowhere").status_code == 403


def test_a_session_post_without_csrf_token_is_refused(workspace, greet):
    user = get_user_model().objects.create_user("sam", "sam@example.invalid", "pw")
    Membership.objects.create(workspace=workspace, user=user, role=Role.ADMIN)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/api/v1/jobs/", {"template": "greet", "start": False}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_the_browsable_api_renders_for_a_logged_in_user(workspace):
    client = _user_in(workspace)
    response = client.get("/api/v1/templates/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"<html" in response.content


@override_settings(JOBSITE_API_RATE_LIMIT="3/hour")
def test_a_key_over_its_rate_limit_gets_429_with_retry_after_and_ratelimit_headers(
    workspace, api_key
):
    client = client_for(api_key(Role.VIEWER))
    answers = [client.get(WORKSPACE_URL) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0]["RateLimit-Limit"] == "3"
    assert answers[0]["RateLimit-Remaining"] == "2"
    assert int(answers[0]["RateLimit-Reset"]) >= 1
    limited = answers[3]
    assert 1 <= int(limited["Retry-After"]) <= 3600
    assert limited["RateLimit-Remaining"] == "0"
    assert limited.json()["code"] == "throttled"
    # Another key has its own budget.
    assert client_for(api_key(Role.VIEWER)).get(WORKSPACE_URL).status_code == 200


@override_settings(JOBSITE_API_BAD_KEY_LIMIT="5/hour")
def test_a_client_sending_wrong_keys_is_slowed_down(workspace, api_key):
    answers = [client_for(f"jsk_guess{i}").get(WORKSPACE_URL) for i in range(7)]
    assert [a.status_code for a in answers[:5]] == [401] * 5
    assert [a.status_code for a in answers[5:]] == [429, 429]
    assert int(answers[5]["Retry-After"]) >= 1


def test_wrong_keys_from_one_address_never_lock_out_a_valid_key_from_it(
    workspace, api_key, monkeypatch
):
    # The limits count in fixed windows of a minute: 25 requests on a loaded machine
    # may straddle the start of a window and find the count reset. Hold the clock.
    monkeypatch.setattr(throttling, "time", SimpleNamespace(time=lambda: 1_800_000_001.0))
    # The attack of issue 12: 20+ wrong keys a minute from the load balancer's address
    # used to answer every request from that address 429, valid keys included.
    good = api_key(Role.VIEWER)
    wrong = [client_for(f"jsk_guess{i}").get(WORKSPACE_URL).status_code for i in range(25)]
    assert wrong.count(401) == 20 and wrong[20:] == [429] * 5
    for _ in range(3):
        answer = client_for(good).get(WORKSPACE_URL)
        assert answer.status_code == 200, answer.content
    # The guesser stays refused.
    assert client_for("jsk_guess-again").get(WORKSPACE_URL).status_code == 429


@override_settings(JOBSITE_API_BAD_KEY_LIMIT="5/hour")
def test_wrong_keys_with_one_prefix_are_counted_across_addresses(workspace):
    answers = [
        client_for(f"jsk_AAAA{i}", REMOTE_ADDR=f"203.0.113.{i}").get(WORKSPACE_URL).status_code
        for i in range(7)
    ]
    assert answers == [401] * 5 + [429] * 2


def test_a_wrong_key_of_any_characters_is_counted_under_a_safe_cache_key(db):
    """The key's prefix is the client's text: spaces, control characters and non-ASCII
    reached the cache key as they were (a CacheKeyWarning in the fuzz run; an error with
    memcached)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheKeyWarning)
        for key in ["\x1a\x83ñ/xyz", "jsk_ a b c", "jsk_" + "é" * 40]:
            assert client_for(key).get(WORKSPACE_URL).status_code == 401


@pytest.mark.parametrize(
    "role,status", [(Role.VIEWER, 403), (Role.OPERATOR, 403), (Role.ADMIN, 200)]
)
def test_only_admins_see_the_keys(api_key, role, status):
    assert client_for(api_key(role)).get("/api/v1/keys/").status_code == status


def test_a_user_of_no_workspace_is_403(db):
    user = get_user_model().objects.create_user("lonely", "l@example.invalid", "pw")
    client = APIClient()
    client.force_login(user)
    assert client.get(WORKSPACE_URL).status_code == 403
    assert Workspace.objects.count() == 0


def test_a_gateway_bearer_token_beside_a_valid_x_api_key_authenticates_with_the_key(
    workspace, api_key
):
    # Seed 002's client sends both: its gateway's token and our key.
    raw = api_key(Role.VIEWER)
    client = APIClient(
        HTTP_AUTHORIZATION="Bearer eyJhbGciOiJIUzI1NiJ9.gateway-token", HTTP_X_API_KEY=raw
    )
    response = client.get(WORKSPACE_URL, HTTP_X_WORKSPACE_SLUG="acme")
    assert response.status_code == 200
    assert response.json()["slug"] == "acme"
    jobs = client.get("/api/v1/jobs/", HTTP_X_WORKSPACE_ID=str(workspace.pk))
    assert jobs.status_code == 200


def test_two_different_keys_in_the_two_headers_are_400_saying_so(
    workspace, other_workspace, api_key
):
    mine, theirs = api_key(Role.VIEWER), api_key(Role.ADMIN, target=other_workspace)
    response = APIClient(HTTP_AUTHORIZATION=f"Bearer {mine}", HTTP_X_API_KEY=theirs).get(
        WORKSPACE_URL
    )
    assert response.status_code == 400
    assert response.json()["code"] == "conflicting_keys"
    assert "Authorization" in response.json()["detail"] and "X-API-Key" in response.json()["detail"]
    job_status = APIClient(HTTP_AUTHORIZATION=f"Bearer {mine}", HTTP_X_API_KEY=theirs).get(
        "/api/v1/jobs/00000000-0000-0000-0000-000000000000/status/"
    )
    assert job_status.status_code == 400
    same = APIClient(HTTP_AUTHORIZATION=f"Bearer {mine}", HTTP_X_API_KEY=mine).get(WORKSPACE_URL)
    assert same.status_code == 200
