"""The SQLite backend waits for the write lock by short retries (jobsite/sqlite3): a
transaction's BEGIN and a write outside a transaction (django-q2's ORM broker) that find
the lock held take it soon after it is freed, not after SQLite's busy handler's next
1–100 ms sleep; one that never gets it fails after the configured timeout."""

import sqlite3
import threading
import time

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
    holder.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    return holder


def late_by(path, write, hold_seconds):
    """How long after the holder frees the lock `write(wrapper)` finishes, the holder
    having taken the lock just before `write` started."""
    wrapper = open_wrapper(path, timeout=30)
    holder = holder_of_the_write_lock(path)
    freed = {}

    def free_later():
        time.sleep(hold_seconds)
        holder.execute("COMMIT")
        freed["at"] = time.monotonic()

    freer = threading.Thread(target=free_later)
    try:
        freer.start()
        write(wrapper)
        done = time.monotonic()
        freer.join()
        return done - freed["at"]
    finally:
        wrapper.close()
        holder.close()


def begin_and_insert(wrapper):
    with wrapper.cursor() as cursor:
        wrapper._start_transaction_under_autocommit()
        cursor.execute("INSERT INTO t VALUES (1)")
        wrapper.connection.commit()


def insert_outside_a_transaction(wrapper):
    with wrapper.cursor() as cursor:
        cursor.execute("INSERT INTO t VALUES (2)")


@pytest.mark.parametrize("write", [begin_and_insert, insert_outside_a_transaction])
def test_a_write_that_finds_the_lock_held_takes_it_soon_after_it_is_freed(tmp_path, write):
    # Freed after 60 ms, SQLite's busy handler (sleeps 1, 2, 5, 10, 15, 20, 25 ms) would
    # look again at 78 ms: 18 ms late. The retries look every 0.5 ms. Best of three, as
    # a loaded machine may deschedule a thread for a while.
    lateness = min(late_by(tmp_path / "db.sqlite3", write, 0.06) for _ in range(3))
    assert lateness < 0.010, f"took the lock {lateness * 1000:.1f} ms after it was freed"
    check = sqlite3.connect(tmp_path / "db.sqlite3")
    assert check.execute("SELECT COUNT(*) FROM t").fetchone() == (3,)
    check.close()


def test_a_lock_never_freed_fails_after_the_timeout(tmp_path):
    path = tmp_path / "db.sqlite3"
    holder = holder_of_the_write_lock(path)
    wrapper = open_wrapper(path, timeout=0.2)
    try:
        started = time.monotonic()
        with pytest.raises(OperationalError, match="locked"):
            with wrapper.cursor() as cursor:
                cursor.execute("INSERT INTO t VALUES (3)")
        assert 0.2 <= time.monotonic() - started < 5
        with pytest.raises(OperationalError, match="locked"):
            wrapper._start_transaction_under_autocommit()
    finally:
        wrapper.close()
        holder.execute("ROLLBACK")
        holder.close()


def test_an_executemany_given_a_generator_writes_every_row_after_waiting(tmp_path):
    def write(wrapper):
        with wrapper.cursor() as cursor:
            cursor.executemany("INSERT INTO t VALUES (%s)", ((i,) for i in range(5)))

    late_by(tmp_path / "db.sqlite3", write, 0.03)
    check = sqlite3.connect(tmp_path / "db.sqlite3")
    assert check.execute("SELECT COUNT(*), SUM(x) FROM t").fetchone() == (5, 10)
    check.close()
