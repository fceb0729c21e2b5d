"""Django's SQLite backend, with the write lock taken by short retries.

Every write transaction here starts with `BEGIN IMMEDIATE` (settings: transaction_mode),
which takes SQLite's single write lock or finds it held. SQLite's busy handler (the
`timeout` option) then sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms between
tries instead of waking when the lock frees, so a worker that collides with another's
3 ms transaction often waits 8–30 ms, and the whole queue runs at that pace
(docs/benchmarks.md, "Round 4c"). Python's sqlite3 cannot install another busy handler,
so the BEGIN alone runs with the busy handler off and is retried every
`LOCK_RETRY_SECONDS` until the same `timeout`; every other statement keeps the handler.
"""

import sqlite3
import time

from django.db import OperationalError
from django.db.backends.sqlite3 import base

LOCK_RETRY_SECONDS = 0.0005


def _is_busy(error: BaseException) -> bool:
    cause = error.__cause__ if isinstance(error.__cause__, sqlite3.Error) else error
    return getattr(cause, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class DatabaseWrapper(base.DatabaseWrapper):
    def _start_transaction_under_autocommit(self) -> None:
        timeout = float(self.settings_dict["OPTIONS"].get("timeout", 5))
        raw = self.connection
        raw.execute("PRAGMA busy_timeout = 0")
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    super()._start_transaction_under_autocommit()
                    return
                except OperationalError as error:
                    if not _is_busy(error) or time.monotonic() >= deadline:
                        raise
                time.sleep(LOCK_RETRY_SECONDS)
        finally:
            raw.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
