"""Django's SQLite backend, with SQLite's write lock waited for by short retries.

SQLite has one write lock. Every write transaction here starts with `BEGIN IMMEDIATE`
(settings: transaction_mode), and django-q2's ORM broker writes outside transactions
(its enqueue, dequeue and acknowledgement are single statements). A statement that finds
the lock held waits in SQLite's busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25, 25,
25, 50, 50, 100 ms between tries instead of waking when the lock frees: a web request
that collides with a worker's 1 ms transaction often waits 8–30 ms, and the cores sit
idle meanwhile (docs/benchmarks.md, rounds 4c and 8). Python's sqlite3 cannot install
another busy handler, so the connection runs with the busy handler off and every
statement that comes back SQLITE_BUSY is retried every `LOCK_RETRY_SECONDS` until the
database's `timeout` has passed, then fails as before ("database is locked").

Retrying is what the busy handler itself does, and is safe here: a statement that
returns SQLITE_BUSY did nothing; the transactions are IMMEDIATE, so none waits for a
lock another holds while holding one it wants (the deadlock SQLite answers at once
instead of calling the busy handler cannot arise).
"""

import sqlite3
import time
from collections.abc import Callable
from typing import Any

from django.db.backends.sqlite3 import base
from django.db.backends.utils import debug_transaction

LOCK_RETRY_SECONDS = 0.0005
# SQLITE_BUSY and SQLITE_BUSY_RECOVERY. Not SQLITE_BUSY_SNAPSHOT (a read transaction
# that cannot become a write one: retrying never helps) nor SQLITE_LOCKED (a conflict
# within this connection).
RETRIED_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_BUSY_RECOVERY})


def _retried(run: Callable[[], Any], timeout: float) -> Any:
    deadline = None
    while True:
        try:
            return run()
        except sqlite3.OperationalError as error:
            if getattr(error, "sqlite_errorcode", None) not in RETRIED_CODES:
                raise
            now = time.monotonic()
            if deadline is None:
                deadline = now + timeout
            elif now >= deadline:
                raise
        time.sleep(LOCK_RETRY_SECONDS)


class LockRetryingCursor(base.SQLiteCursorWrapper):
    lock_timeout = 5.0

    def execute(self, query, params=None):
        return _retried(lambda: super(LockRetryingCursor, self).execute(query, params), self.lock_timeout)

    def executemany(self, query, param_list):
        # A retry needs the parameters again: a generator would be spent.
        if not isinstance(param_list, (list, tuple)):
            param_list = list(param_list)
        return _retried(
            lambda: super(LockRetryingCursor, self).executemany(query, param_list), self.lock_timeout
        )


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        connection.execute("PRAGMA busy_timeout = 0")
        return connection

    @property
    def lock_timeout(self) -> float:
        return float(self.settings_dict["OPTIONS"].get("timeout", 5))

    def create_cursor(self, name=None):
        cursor = self.connection.cursor(factory=LockRetryingCursor)
        cursor.lock_timeout = self.lock_timeout
        return cursor

    def _commit(self):
        # A COMMIT under WAL has no lock to wait for; retried all the same, as the busy
        # handler would have waited.
        if self.connection is not None:
            with debug_transaction(self, "COMMIT"), self.wrap_database_errors:
                return _retried(self.connection.commit, self.lock_timeout)
