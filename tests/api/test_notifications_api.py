"""notifications/ (SPEC §16) in the API and the settings pages: admins manage channels;
a chat channel's URL is written, never read back."""

from django.test import Client

from jobs.models import NotificationChannel

CHANNELS = "/api/v1/notifications/"
SLACK = "https://hooks.slack.example/services/T000/B000/very-secret-token"


def test_admins_add_change_and_delete_channels_and_the_chat_url_is_never_shown(
    admin_client, viewer_client, workspace, greet
):
    made = admin_client.post(
        CHANNELS,
        {
            "kind": "chat",
            "name": "Ops chat",
            "target": SLACK,
            "events": ["job.failed", "step.failed"],
            "template": "greet",
        },
        format="json",
    )
    assert made.status_code == 201, made.content
    channel = made.json()
    assert (
        channel["target"] == "https://hooks.slack.example/…"
        and channel["template"]["slug"] == "greet"
    )
    assert "very-secret-token" not in admin_client.get(CHANNELS).content.decode()
    assert NotificationChannel.objects.get().target == SLACK

    changed = admin_client.patch(
        f"{CHANNELS}{channel['id']}/", {"events": ["job.succeeded"], "active": False}, format="json"
    )
    assert (
        changed.status_code == 200
        and changed.json()["events"] == ["job.succeeded"]
        and changed.json()["active"] is False
    )
    assert viewer_client.get(CHANNELS).status_code == 403
    assert admin_client.delete(f"{CHANNELS}{channel['id']}/").status_code == 204
    assert not NotificationChannel.objects.exists()


def test_a_bad_channel_is_400_naming_each_field(admin_client, outsider_client):
    bad = admin_client.post(
        CHANNELS,
        {"kind": "email", "name": "x", "target": "a@example.test, nope", "events": []},
        format="json",
    )
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"target", "events"}
    unknown = admin_client.post(
        CHANNELS,
        {"kind": "pager", "name": "x", "target": "x", "events": ["job.exploded"]},
        format="json",
    )
    assert unknown.status_code == 400 and {"kind", "events.0"} <= set(unknown.json()["errors"])
    theirs = outsider_client.post(
        CHANNELS,
        {"kind": "email", "name": "t", "target": "t@example.test", "events": ["job.failed"]},
        format="json",
    )
    assert admin_client.get(f"{CHANNELS}{theirs.json()['id']}/").status_code == 404


def test_the_settings_pages_manage_channels(admin_user, workspace):
    browser = Client()
    browser.force_login(admin_user)
    assert "Notification channels" in browser.get("/settings/notifications/").content.decode()
    bad = browser.post(
        "/settings/notifications/new/",
        {
            "kind": "email",
            "name": "Ops",
            "target": "nobody",
            "events": ["job.failed"],
            "is_active": "on",
        },
    )
    assert bad.status_code == 400 and "not an email address: nobody" in bad.content.decode()
    good = browser.post(
        "/settings/notifications/new/",
        {
            "kind": "chat",
            "name": "Ops",
            "target": SLACK,
            "events": ["job.failed"],
            "is_active": "on",
        },
    )
    assert good.status_code == 302
    channel = NotificationChannel.objects.get()
    edit = browser.get(f"/settings/notifications/{channel.pk}/").content.decode()
    assert "very-secret-token" not in edit
    # Left empty, the chat URL is kept.
    saved = browser.post(
        f"/settings/notifications/{channel.pk}/",
        {
            "kind": "chat",
            "name": "Ops room",
            "target": "",
            "events": ["job.failed", "job.canceled"],
        },
    )
    assert saved.status_code == 302
    channel.refresh_from_db()
    assert channel.target == SLACK and channel.name == "Ops room" and channel.is_active is False
    listing = browser.get("/settings/notifications/").content.decode()
    assert "Ops room" in listing and "very-secret-token" not in listing
    assert browser.post(f"/settings/notifications/{channel.pk}/delete/").status_code == 302
    assert not NotificationChannel.objects.exists()
