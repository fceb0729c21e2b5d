"""keys/ (admin): the raw key once, then only its prefix; DELETE revokes."""

from datetime import timedelta

from django.utils import timezone

from jobsite.models import ApiKey
from tests.api.conftest import client_for

KEYS = "/api/v1/keys/"


def test_an_admin_creates_a_key_whose_raw_value_appears_only_in_that_response(
    admin_client, workspace
):
    response = admin_client.post(KEYS, {"name": "ci-bot", "role": "operator"}, format="json")
    assert response.status_code == 201
    created = response.json()
    raw = created["key"]
    assert raw.startswith("jsk_") and created["prefix"] == raw[:12]
    assert (
        created["role"] == "operator"
        and created["active"] is True
        and created["created_by"] is None
    )
    listed = admin_client.get(KEYS).json()["results"]
    assert raw not in str(listed)
    assert created["id"] in [key["id"] for key in listed]
    assert client_for(raw).get("/api/v1/workspace/").json()["role"] == "operator"
    assert ApiKey.objects.get(pk=created["id"]).key_hash != raw


def test_a_key_can_expire(admin_client):
    expires = (timezone.now() + timedelta(days=1)).isoformat()
    response = admin_client.post(
        KEYS, {"name": "temp", "role": "viewer", "expires_at": expires}, format="json"
    )
    assert response.status_code == 201 and response.json()["expires_at"]
    past = admin_client.post(
        KEYS, {"name": "temp", "expires_at": "2000-01-01T00:00:00Z"}, format="json"
    )
    assert past.status_code == 400 and list(past.json()["errors"]) == ["expires_at"]


def test_a_key_needs_a_name_and_a_known_role(admin_client):
    response = admin_client.post(KEYS, {"name": " ", "role": "god"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"name", "role"}


def test_delete_revokes_a_key_at_once(admin_client, api_key):
    raw = api_key("viewer")
    key = ApiKey.objects.get(prefix=raw[:12])
    assert client_for(raw).get("/api/v1/workspace/").status_code == 200
    assert admin_client.delete(f"{KEYS}{key.pk}/").status_code == 204
    assert client_for(raw).get("/api/v1/workspace/").status_code == 401
    shown = admin_client.get(f"{KEYS}{key.pk}/").json()
    assert shown["active"] is False and shown["revoked_at"]


def test_an_unknown_key_id_is_404(admin_client):
    assert admin_client.get(f"{KEYS}999999/").status_code == 404
    assert admin_client.delete(f"{KEYS}999999/").status_code == 404
