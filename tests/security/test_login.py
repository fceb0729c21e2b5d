"""The login throttle and the password change page (SPEC §15, issue 12 item 7)."""

import time

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

PASSWORD = "correct horse battery"


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user("alice", "alice@example.invalid", PASSWORD)


def attempt(client, password, username="alice"):
    return client.post("/login/", {"username": username, "password": password})


def test_after_ten_failures_that_client_is_refused_for_that_username_even_with_the_right_password(
    alice,
):
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    failures = [attempt(attacker, f"guess-{i}").status_code for i in range(10)]
    assert failures == [200] * 10  # the form again, with its error
    refused = attempt(attacker, PASSWORD)
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 15 * 60
    assert "Too many failed logins" in refused.content.decode()
    assert "_auth_user_id" not in attacker.session
    # Another client logs in as alice; the attacker may still try other usernames.
    assert attempt(Client(REMOTE_ADDR="198.51.100.9"), PASSWORD).status_code == 302
    assert attempt(attacker, "x", username="bob").status_code == 200


def test_sixty_wrong_passwords_in_a_row_cost_ten_password_checks(
    alice, django_assert_max_num_queries
):
    # The CPU amplifier of issue 12: each check is a full PBKDF2 run. Refused attempts
    # never reach the password hasher (nor the user table).
    attacker = Client(REMOTE_ADDR="203.0.113.8")
    statuses = [attempt(attacker, f"guess-{i}").status_code for i in range(60)]
    assert statuses.count(200) == 10 and statuses.count(429) == 50
    with django_assert_max_num_queries(0):
        assert attempt(attacker, PASSWORD).status_code == 429


def test_the_refusal_ends_when_the_window_passes(alice, settings, monkeypatch):
    # The window passes on the clock that both the throttle and the local-memory cache
    # (where its counters expire) read, instead of in a sleep.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.JOBSITE_LOGIN_WINDOW_SECONDS = 1
    client = Client(REMOTE_ADDR="203.0.113.9")
    for i in range(10):
        attempt(client, f"guess-{i}")
    assert attempt(client, PASSWORD).status_code == 429
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 1.2)
    assert attempt(client, PASSWORD).status_code == 302


def test_a_user_changes_their_password_from_the_top_bar(alice, workspace, client):
    from jobsite.models import Membership, Role

    Membership.objects.create(workspace=workspace, user=alice, role=Role.VIEWER)
    client.force_login(alice)
    page = client.get("/")
    assert 'href="/account/password/"' in page.content.decode()
    form = client.get("/account/password/")
    assert form.status_code == 200 and "csrfmiddlewaretoken" in form.content.decode()
    wrong = client.post(
        "/account/password/",
        {
            "old_password": "nope",
            "new_password1": "a new long passphrase",
            "new_password2": "a new long passphrase",
        },
    )
    assert wrong.status_code == 200 and "incorrectly" in wrong.content.decode()
    changed = client.post(
        "/account/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "a new long passphrase",
            "new_password2": "a new long passphrase",
        },
        follow=True,
    )
    assert changed.redirect_chain[-1][0] == "/"
    assert "Your password was changed." in changed.content.decode()
    alice.refresh_from_db()
    assert alice.check_password("a new long passphrase")
    assert client.get("/").status_code == 200  # still logged in


def test_the_password_change_form_needs_the_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": "x" * 12, "new_password2": "x" * 12},
    )
    assert response.status_code == 403
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_the_login_page_needs_a_login_to_change_a_password(client):
    assert client.get("/account/password/")["Location"].startswith("/login/")
