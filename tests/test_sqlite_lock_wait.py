"""The SQLite backend takes the write lock by short retries (jobsite/sqlite3):
a BEGIN that finds the lock held waits for it, not fails; one that never gets it fails
after the configured timeout; every other statement keeps SQLite's busy handler."""

import sqlite3
import threading

import pytest
from django.db import OperationalError, connection

from jobsite.sqlite3 import base

pytestmark = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite's write lock (the default database)"
)


@pytest.fixture(autouse=True)
def own_database_files(django_db_blocker):
    """Each test opens its own database file, not the test database."""
    with django_db_blocker.unblock():
        yield


def open_wrapper(path, timeout):
    settings = {
        **connection.settings_dict,
        "NAME": str(path),
        "OPTIONS": {**connection.settings_dict["OPTIONS"], "timeout": timeout},
    }
    wrapper = base.DatabaseWrapper(settings, alias="lock-wait")
    wrapper.ensure_connection()
    return wrapper


def holder_of_the_write_lock(path):
    holder = sqlite3.connect(path, isolation_level=None, timeout=0, check_same_thread=False)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_a_begin_that_finds_the_lock_held_takes_it_when_it_is_freed(tmp_path, monkeypatch):
    path = tmp_path / "db.sqlite3"
    holder = holder_of_the_write_lock(path)
    found_held = threading.Event()
    real_sleep = base.time.sleep

    def sleep(seconds):
        found_held.set()
        real_sleep(seconds)

    monkeypatch.setattr(base.time, "sleep", sleep)
    outcome = {}

    def begin():
        wrapper = open_wrapper(path, timeout=30)
        try:
            wrapper._start_transaction_under_autocommit()
            outcome["began"] = True
            # It holds the lock now: the other connection cannot take it.
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                holder.execute("BEGIN IMMEDIATE")
            wrapper.connection.execute("ROLLBACK")
            outcome["busy_timeout"] = wrapper.connection.execute("PRAGMA busy_timeout").fetchone()
        except Exception as error:  # reported by the assertion below
            outcome["error"] = error
        finally:
            wrapper.close()

    waiter = threading.Thread(target=begin)
    waiter.start()
    assert found_held.wait(timeout=10), "the BEGIN never found the lock held"
    assert waiter.is_alive()
    holder.execute("COMMIT")
    waiter.join(timeout=10)
    holder.close()
    assert outcome == {"began": True, "busy_timeout": (30000,)}


def test_a_lock_never_freed_fails_after_the_timeout_and_keeps_the_busy_handler(tmp_path):
    path = tmp_path / "db.sqlite3"
    holder = holder_of_the_write_lock(path)
    wrapper = open_wrapper(path, timeout=0.05)
    try:
        with pytest.raises(OperationalError, match="locked"):
            wrapper._start_transaction_under_autocommit()
        # Statements other than the BEGIN still wait in SQLite's own busy handler.
        assert wrapper.connection.execute("PRAGMA busy_timeout").fetchone() == (50,)
    finally:
        wrapper.close()
        holder.execute("ROLLBACK")
        holder.close()
