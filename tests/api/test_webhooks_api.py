"""webhooks/ (admin only): endpoints with their filters, the signing secret shown in the
creation's and each rotation's response only, deliveries newest first with every
attempt, redelivery by a worker; nothing of another workspace reachable."""

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from jobs.automation import webhooks
from jobs.models.automation import WEBHOOK_EVENTS, DeliveryAttempt, WebhookDelivery, WebhookEndpoint
from jobs.services import create_job
from tests.api.conftest import client_for
from tests.jobs.helpers import make_template

WEBHOOKS = "/api/v1/webhooks/"
NOWHERE = "00000000-0000-0000-0000-000000000000"
HOOK_URL = "https://receiver.example.com/hooks/jobsite"


@pytest.fixture
def endpoint(workspace):
    return WebhookEndpoint.objects.create(workspace=workspace, url=HOOK_URL, description="ops")


@pytest.fixture
def delivery_of(workspace, greet):
    job = create_job(workspace, template=greet, start=False)

    def make(endpoint, event="job.succeeded", age_seconds=0, **fields):
        delivery = WebhookDelivery.objects.create(
            workspace=workspace,
            endpoint=endpoint,
            job=job,
            url=endpoint.url,
            event=event,
            payload={"type": event, "data": {"id": str(job.pk)}},
            created_at=timezone.now() - timedelta(seconds=age_seconds),
            **fields,
        )
        return delivery

    return make


@pytest.fixture
def queued_tasks(monkeypatch):
    """What would be handed to the workers (after commit)."""
    sent = []
    monkeypatch.setattr(
        webhooks,
        "enqueue_tasks",
        lambda func, calls: sent.extend((func, *args) for args, _ in calls),
    )
    return sent


# --- adding and reading ------------------------------------------------------------------------


def test_an_admin_adds_an_endpoint_and_its_secret_appears_only_in_that_response(
    admin_client, workspace
):
    response = admin_client.post(
        WEBHOOKS, {"url": HOOK_URL, "description": "ops channel"}, format="json"
    )
    assert response.status_code == 201
    created = response.json()
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert response["Location"].endswith(f"{WEBHOOKS}{created['id']}/")
    endpoint = WebhookEndpoint.objects.get(pk=created["id"])
    assert endpoint.workspace == workspace and endpoint.secret == secret
    # Never again: not in the list, the endpoint, a change or the deliveries.
    later = [
        admin_client.get(WEBHOOKS),
        admin_client.get(f"{WEBHOOKS}{endpoint.pk}/"),
        admin_client.patch(f"{WEBHOOKS}{endpoint.pk}/", {"description": "renamed"}, format="json"),
        admin_client.get(f"{WEBHOOKS}{endpoint.pk}/deliveries/"),
    ]
    assert [answer.status_code for answer in later] == [200] * 4
    for answer in later:
        assert secret not in answer.content.decode() and b'"secret"' not in answer.content
        assert secret.removeprefix("whsec_") not in answer.content.decode()


def test_a_new_endpoint_gets_every_event_any_template_and_is_active(admin_client):
    created = admin_client.post(WEBHOOKS, {"url": HOOK_URL}, format="json").json()
    shown = {
        key: value for key, value in created.items() if key not in ("id", "created_at", "secret")
    }
    assert shown == {
        "url": HOOK_URL,
        "description": "",
        "events": [],
        "template": None,
        "active": True,
        "disabled_reason": None,
        "previous_secret_expires_at": None,
    }


def test_the_list_is_newest_first_and_never_shows_a_secret(admin_client, workspace):
    older = WebhookEndpoint.objects.create(
        workspace=workspace, url=HOOK_URL, created_at=timezone.now() - timedelta(hours=1)
    )
    newer = WebhookEndpoint.objects.create(workspace=workspace, url="http://10.0.0.5:8080/hook")
    results = admin_client.get(WEBHOOKS).json()["results"]
    assert [row["id"] for row in results] == [str(newer.pk), str(older.pk)]
    assert all("secret" not in row for row in results)


def test_events_are_kept_in_their_documented_order_once_each(admin_client):
    events = ["step.failed", "job.failed", "job.failed"]
    created = admin_client.post(WEBHOOKS, {"url": HOOK_URL, "events": events}, format="json").json()
    assert created["events"] == ["job.failed", "step.failed"]


def test_an_unknown_event_is_a_400_naming_it(admin_client):
    response = admin_client.post(
        WEBHOOKS, {"url": HOOK_URL, "events": ["job.failed", "job.exploded"]}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and list(body["errors"]) == ["events"]
    assert "'job.exploded'" in body["errors"]["events"][0]
    assert all(event in body["errors"]["events"][0] for event in WEBHOOK_EVENTS)
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "ftp://files.example.com/drop",
        "javascript:alert(1)",
        "not a url",
        "",
        "file:///etc/passwd",
        42,
    ],
)
def test_the_url_must_be_http_or_https(admin_client, url):
    response = admin_client.post(WEBHOOKS, {"url": url}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["url"]


def test_a_url_is_required_and_unknown_fields_are_refused(admin_client):
    response = admin_client.post(
        WEBHOOKS, {"secret": "whsec_mine", "is_active": True}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"secret", "is_active"}
    missing = admin_client.post(WEBHOOKS, {}, format="json")
    assert missing.status_code == 400 and list(missing.json()["errors"]) == ["url"]


@pytest.mark.parametrize("by", ["id", "slug"])
def test_the_template_filter_takes_an_id_or_a_slug_and_reads_as_both(admin_client, greet, by):
    ref = str(greet.pk) if by == "id" else "greet"
    created = admin_client.post(WEBHOOKS, {"url": HOOK_URL, "template": ref}, format="json").json()
    assert created["template"] == {"id": str(greet.pk), "slug": "greet"}
    assert WebhookEndpoint.objects.get(pk=created["id"]).template_id == greet.pk


def test_another_workspaces_template_is_refused_as_a_filter_like_one_that_never_existed(
    admin_client, other_workspace
):
    theirs = make_template(
        other_workspace, "slug: theirs\nname: Theirs\nsteps: [{id: a, type: noop}]\n"
    )
    for foreign, missing in ((str(theirs.pk), NOWHERE), ("theirs", "no-such-template")):
        refused = admin_client.post(WEBHOOKS, {"url": HOOK_URL, "template": foreign}, format="json")
        absent = admin_client.post(WEBHOOKS, {"url": HOOK_URL, "template": missing}, format="json")
        assert refused.status_code == 400 and refused.content == absent.content
        assert refused.json()["errors"] == {"template": ["no such template in this workspace"]}
    assert not WebhookEndpoint.objects.exists()


def test_an_archived_template_cannot_become_a_filter_but_an_endpoint_keeps_the_one_it_has(
    admin_client, workspace, greet
):
    endpoint = WebhookEndpoint.objects.create(workspace=workspace, url=HOOK_URL, template=greet)
    greet.archived_at = timezone.now()
    greet.save(update_fields=["archived_at"])
    refused = admin_client.post(WEBHOOKS, {"url": HOOK_URL, "template": "greet"}, format="json")
    assert refused.status_code == 400 and refused.json()["errors"] == {
        "template": ["this template is archived"]
    }
    kept = admin_client.patch(
        f"{WEBHOOKS}{endpoint.pk}/", {"template": "greet", "description": "x"}, format="json"
    )
    assert kept.status_code == 200 and kept.json()["template"]["slug"] == "greet"


# --- changing and deleting -----------------------------------------------------------------------


def test_patch_changes_only_the_fields_sent(admin_client, endpoint, greet):
    response = admin_client.patch(
        f"{WEBHOOKS}{endpoint.pk}/",
        {"events": ["job.succeeded"], "template": "greet"},
        format="json",
    )
    assert response.status_code == 200
    shown = response.json()
    assert shown["events"] == ["job.succeeded"] and shown["template"]["slug"] == "greet"
    assert shown["url"] == HOOK_URL and shown["description"] == "ops" and shown["active"] is True
    endpoint.refresh_from_db()
    assert (
        endpoint.events == ["job.succeeded"]
        and endpoint.template_id == greet.pk
        and endpoint.description == "ops"
    )
    cleared = admin_client.patch(
        f"{WEBHOOKS}{endpoint.pk}/", {"template": None, "events": []}, format="json"
    ).json()
    assert cleared["template"] is None and cleared["events"] == []


def test_a_bad_patch_changes_nothing_and_names_every_problem(admin_client, endpoint):
    response = admin_client.patch(
        f"{WEBHOOKS}{endpoint.pk}/",
        {"url": "ftp://x.example", "events": ["nope"], "active": "yes"},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"url", "events", "active"}
    before = endpoint.url
    endpoint.refresh_from_db()
    assert endpoint.url == before and endpoint.events == [] and endpoint.is_active


def test_activating_an_endpoint_a_410_disabled_clears_the_reason(admin_client, endpoint):
    endpoint.is_active, endpoint.disabled_reason = (
        False,
        "the receiver answered 410 Gone on 2026-11-22 10:00 UTC",
    )
    endpoint.save()
    shown = admin_client.get(f"{WEBHOOKS}{endpoint.pk}/").json()
    assert shown["active"] is False and shown["disabled_reason"].startswith(
        "the receiver answered 410"
    )
    still_off = admin_client.patch(
        f"{WEBHOOKS}{endpoint.pk}/", {"description": "x"}, format="json"
    ).json()
    assert still_off["disabled_reason"]
    on = admin_client.patch(f"{WEBHOOKS}{endpoint.pk}/", {"active": True}, format="json").json()
    assert on["active"] is True and on["disabled_reason"] is None
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.disabled_reason == ""


def test_delete_removes_the_endpoint_with_its_deliveries(admin_client, endpoint, delivery_of):
    delivery = delivery_of(endpoint)
    DeliveryAttempt.objects.create(delivery=delivery, number=1, status_code=500)
    assert admin_client.delete(f"{WEBHOOKS}{endpoint.pk}/").status_code == 204
    assert admin_client.get(f"{WEBHOOKS}{endpoint.pk}/").status_code == 404
    assert not WebhookDelivery.objects.exists() and not DeliveryAttempt.objects.exists()


# --- the secret --------------------------------------------------------------------------------


def test_rotating_shows_the_new_secret_once_and_the_old_one_keeps_signing_for_24_hours(
    admin_client, endpoint
):
    old = endpoint.secret
    response = admin_client.post(f"{WEBHOOKS}{endpoint.pk}/rotate-secret/")
    assert response.status_code == 200
    rotated = response.json()
    new = rotated["secret"]
    assert new.startswith("whsec_") and new != old and old not in response.content.decode()
    expires = timezone.datetime.fromisoformat(rotated["previous_secret_expires_at"])
    assert timedelta(hours=23, minutes=59) < expires - timezone.now() <= timedelta(hours=24)
    # Both sign during the overlap: a receiver with either secret verifies the message.
    endpoint.refresh_from_db()
    body = json.dumps({"type": "job.succeeded"}).encode()
    headers = webhooks.signed_headers(endpoint.signing_secrets(), "msg_1", body)
    assert len(headers["webhook-signature"].split()) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers) == {"type": "job.succeeded"}
    # Shown once: the endpoint itself never shows either.
    shown = admin_client.get(f"{WEBHOOKS}{endpoint.pk}/")
    assert new not in shown.content.decode() and old not in shown.content.decode()
    assert shown.json()["previous_secret_expires_at"] == rotated["previous_secret_expires_at"]


def test_once_the_overlap_is_over_only_the_new_secret_signs_and_none_is_said_to_expire(
    admin_client, endpoint
):
    admin_client.post(f"{WEBHOOKS}{endpoint.pk}/rotate-secret/")
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
    )
    endpoint.refresh_from_db()
    assert endpoint.signing_secrets() == [endpoint.secret]
    assert (
        admin_client.get(f"{WEBHOOKS}{endpoint.pk}/").json()["previous_secret_expires_at"] is None
    )


def test_rotating_takes_no_body(admin_client, endpoint):
    old = endpoint.secret
    response = admin_client.post(
        f"{WEBHOOKS}{endpoint.pk}/rotate-secret/", {"secret": "whsec_mine"}, format="json"
    )
    assert response.status_code == 400
    endpoint.refresh_from_db()
    assert endpoint.secret == old and not endpoint.previous_secret


# --- deliveries ---------------------------------------------------------------------------------


def test_deliveries_are_listed_newest_first_each_with_its_attempts(
    admin_client, endpoint, delivery_of
):
    old = delivery_of(
        endpoint,
        event="job.started",
        age_seconds=60,
        status="failed",
        attempts=2,
        last_status_code=500,
    )
    DeliveryAttempt.objects.create(
        delivery=old, number=2, status_code=500, duration_ms=12, response_excerpt="nope"
    )
    DeliveryAttempt.objects.create(
        delivery=old, number=1, status_code=None, duration_ms=10000, error="TimeoutError: timed out"
    )
    new = delivery_of(endpoint, event="job.succeeded")
    response = admin_client.get(f"{WEBHOOKS}{endpoint.pk}/deliveries/")
    assert response.status_code == 200
    page = response.json()
    assert [row["id"] for row in page["results"]] == [str(new.pk), str(old.pk)]
    assert page["next_cursor"] is None and page["next"] is None
    listed = page["results"][1]
    assert (
        listed["event"] == "job.started"
        and listed["status"] == "failed"
        and listed["last_status_code"] == 500
    )
    assert (
        listed["message_id"] == old.message_id
        and listed["job_id"] == str(old.job_id)
        and listed["url"] == HOOK_URL
    )
    assert listed["attempts"] == [
        {
            "number": 1,
            "attempted_at": listed["attempts"][0]["attempted_at"],
            "status_code": None,
            "duration_ms": 10000,
            "response_excerpt": "",
            "error": "TimeoutError: timed out",
        },
        {
            "number": 2,
            "attempted_at": listed["attempts"][1]["attempted_at"],
            "status_code": 500,
            "duration_ms": 12,
            "response_excerpt": "nope",
            "error": None,
        },
    ]
    assert page["results"][0]["attempts"] == [] and page["results"][0]["status"] == "pending"


def test_deliveries_are_keyset_paginated_like_jobs(admin_client, endpoint, delivery_of):
    made = [delivery_of(endpoint, age_seconds=age) for age in range(5)]  # made[0] is the newest
    seen, url, pages = [], f"{WEBHOOKS}{endpoint.pk}/deliveries/?limit=2", 0
    while url:
        page = admin_client.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url, pages = page["next"], pages + 1
        # A delivery made meanwhile does not shift the pages.
        delivery_of(endpoint)
    assert seen[:5] == [str(delivery.pk) for delivery in made] and pages == 3


def test_deliveries_of_the_same_instant_are_neither_skipped_nor_repeated(
    admin_client, endpoint, delivery_of
):
    now = timezone.now()
    made = [delivery_of(endpoint) for _ in range(5)]
    WebhookDelivery.objects.update(created_at=now)
    seen, cursor = [], None
    for _ in range(5):
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = admin_client.get(f"{WEBHOOKS}{endpoint.pk}/deliveries/{query}").json()
        seen += [row["id"] for row in page["results"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(str(delivery.pk) for delivery in made) and len(seen) == 5


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("cursor=bogus", "cursor"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("status=lost", "status"),
        ("limit=", "limit"),
    ],
)
def test_a_bad_delivery_query_is_a_400_naming_it(admin_client, endpoint, query, field):
    response = admin_client.get(f"{WEBHOOKS}{endpoint.pk}/deliveries/?{query}")
    assert response.status_code == 400 and list(response.json()["errors"]) == [field]


def test_deliveries_filter_by_status_and_hold_only_this_endpoints(
    admin_client, workspace, endpoint, delivery_of
):
    other = WebhookEndpoint.objects.create(workspace=workspace, url="https://other.example.com/")
    failed = delivery_of(endpoint, status="failed")
    delivery_of(endpoint, status="succeeded")
    delivery_of(other, status="failed")
    rows = admin_client.get(f"{WEBHOOKS}{endpoint.pk}/deliveries/?status=failed").json()["results"]
    assert [row["id"] for row in rows] == [str(failed.pk)]
    assert len(admin_client.get(f"{WEBHOOKS}{endpoint.pk}/deliveries/").json()["results"]) == 2


def test_redeliver_queues_a_new_delivery_of_the_same_event_for_a_worker(
    admin_client, endpoint, delivery_of, queued_tasks, django_capture_on_commit_callbacks
):
    original = delivery_of(endpoint, event="job.failed", status="failed", attempts=11)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"{WEBHOOKS}{endpoint.pk}/deliveries/{original.pk}/redeliver/")
    assert response.status_code == 202
    copy = response.json()
    assert copy["id"] != str(original.pk) and copy["message_id"] != original.message_id
    assert copy["event"] == "job.failed" and copy["status"] == "pending" and copy["attempts"] == []
    stored = WebhookDelivery.objects.get(pk=copy["id"])
    assert stored.payload == original.payload and stored.endpoint_id == endpoint.pk
    # Sent by a worker after commit, never inside the request.
    assert queued_tasks == [(webhooks.DELIVER_TASK, copy["id"])]
    listed = admin_client.get(f"{WEBHOOKS}{endpoint.pk}/deliveries/").json()["results"]
    assert listed[0]["id"] == copy["id"]


def test_a_delivery_is_redelivered_only_through_its_own_endpoint(
    admin_client, workspace, endpoint, delivery_of, queued_tasks
):
    other = WebhookEndpoint.objects.create(workspace=workspace, url="https://other.example.com/")
    theirs = delivery_of(other)
    wrong = admin_client.post(f"{WEBHOOKS}{endpoint.pk}/deliveries/{theirs.pk}/redeliver/")
    missing = admin_client.post(f"{WEBHOOKS}{endpoint.pk}/deliveries/{uuid.uuid4()}/redeliver/")
    assert wrong.status_code == 404 and wrong.content == missing.content
    assert WebhookDelivery.objects.count() == 1


def test_redeliver_takes_no_body(admin_client, endpoint, delivery_of):
    delivery = delivery_of(endpoint)
    response = admin_client.post(
        f"{WEBHOOKS}{endpoint.pk}/deliveries/{delivery.pk}/redeliver/", {"x": 1}, format="json"
    )
    assert response.status_code == 400 and WebhookDelivery.objects.count() == 1


# --- who may: admins only --------------------------------------------------------------------------


def every_request(endpoint_id, delivery_id):
    one = f"{WEBHOOKS}{endpoint_id}/"
    return [
        ("get", WEBHOOKS, None),
        ("post", WEBHOOKS, {"url": HOOK_URL}),
        ("get", one, None),
        ("patch", one, {"description": "changed"}),
        ("post", f"{one}rotate-secret/", None),
        ("get", f"{one}deliveries/", None),
        ("post", f"{one}deliveries/{delivery_id}/redeliver/", None),
        ("delete", one, None),
    ]


def send(client, method, url, body):
    return (
        getattr(client, method)(url, body, format="json")
        if body is not None
        else getattr(client, method)(url)
    )


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_viewers_and_operators_are_refused_every_webhook_endpoint(
    api_key, endpoint, delivery_of, role
):
    client = client_for(api_key(role))
    delivery = delivery_of(endpoint)
    secret = endpoint.secret
    for method, url, body in every_request(endpoint.pk, delivery.pk) + [("head", WEBHOOKS, None)]:
        response = send(client, method, url, body)
        assert response.status_code == 403, (method, url)
        if method != "head":
            assert response.json() == {
                "detail": f"This needs the admin role; yours is {role}.",
                "code": "permission_denied",
            }
    endpoint.refresh_from_db()
    assert endpoint.secret == secret and endpoint.description == "ops"
    assert WebhookEndpoint.objects.count() == 1 and WebhookDelivery.objects.count() == 1


def test_an_admin_may_do_everything(admin_client, endpoint, delivery_of, queued_tasks):
    delivery = delivery_of(endpoint)
    statuses = [
        send(admin_client, method, url, body).status_code
        for method, url, body in every_request(endpoint.pk, delivery.pk)
    ]
    assert statuses == [200, 201, 200, 200, 200, 200, 202, 204]


# --- nothing of another workspace --------------------------------------------------------------


def test_another_workspaces_endpoints_and_deliveries_answer_like_ids_that_never_existed(
    outsider_client, other_workspace, endpoint, delivery_of
):
    delivery = delivery_of(endpoint)
    secret = endpoint.secret
    theirs = every_request(endpoint.pk, delivery.pk)[2:]
    missing = every_request(NOWHERE, uuid.uuid4())[2:]
    for (method, url, body), (_, missing_url, _) in zip(theirs, missing, strict=True):
        foreign = send(outsider_client, method, url, body)
        absent = send(outsider_client, method, missing_url, body)
        assert foreign.status_code == 404, (method, url, foreign.content)
        assert foreign.content == absent.content == b'{"detail":"Not found.","code":"not_found"}'
        assert foreign["Content-Type"] == absent["Content-Type"]
    # Their own endpoint with our delivery's id is no way in either, and their list holds
    # only their endpoint.
    their_endpoint = WebhookEndpoint.objects.create(workspace=other_workspace, url=HOOK_URL)
    crossed = outsider_client.post(
        f"{WEBHOOKS}{their_endpoint.pk}/deliveries/{delivery.pk}/redeliver/"
    )
    assert crossed.status_code == 404
    assert outsider_client.get(f"{WEBHOOKS}{their_endpoint.pk}/deliveries/").json()["results"] == []
    assert [row["id"] for row in outsider_client.get(WEBHOOKS).json()["results"]] == [
        str(their_endpoint.pk)
    ]
    endpoint.refresh_from_db()
    assert (
        endpoint.secret == secret and endpoint.description == "ops" and not endpoint.previous_secret
    )
    assert WebhookDelivery.objects.count() == 1
