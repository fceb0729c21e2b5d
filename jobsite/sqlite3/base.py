"""Django's SQLite backend, with the writers queued in the kernel for SQLite's write lock.

SQLite has one write lock. Every write transaction here starts with `BEGIN IMMEDIATE`
(settings: transaction_mode), and django-q2's ORM broker writes outside transactions
(its enqueue, dequeue and acknowledgement are single statements). A writer that finds the
lock held waits in SQLite's busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25 … ms
between tries instead of waking when the lock frees: a web request behind a worker's
1 ms transaction waits 8–30 ms, and the cores sit idle meanwhile (docs/benchmarks.md,
rounds 4c, 8c and 9b). Python's sqlite3 cannot install another busy handler, and
retrying on SQLITE_BUSY (round 8c) let the retrying processes take the lock from the
others.

So each writer first takes its turn: an exclusive `flock` on a file beside the database
(`<name>-turn`), held from `BEGIN` to `COMMIT`/`ROLLBACK`, or around one write statement
outside a transaction. Writers waiting for their turn sleep in the kernel and are woken
when it is released. The turn is only a queue in front of SQLite's lock, not a
replacement for it: a process without it (the sqlite3 shell, a tool) is still kept out
by SQLite, and waits in its busy handler as before. The file is opened when the turn is
taken and closed when it is given back, so no turn is shared across a fork. A writer that
waits longer than the database's `timeout` fails as SQLite would ("database is locked").
"""

import fcntl
import os
import re
import threading

from django.db import OperationalError
from django.db.backends.sqlite3 import base

# A statement that writes, outside a transaction (django-q2's ORM broker). Anything
# else runs as before: a write not recognised here still waits in SQLite's busy handler.
WRITES = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


class Turn:
    """One writer's turn on one database file: `take()` blocks until it is this
    writer's, `give_back()` releases it. Not re-entrant; one per connection."""

    def __init__(self, path: str, timeout: float):
        self.path = path
        self.timeout = timeout
        self.fd = None

    def take(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not _wait_for(fd, self.timeout):
                raise OperationalError("database is locked") from None
        self.fd = fd

    def give_back(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)  # closing the file releases its lock


def _wait_for(fd: int, timeout: float) -> bool:
    """Block until `fd`'s exclusive lock is granted, at most `timeout` seconds. The
    blocking call runs in a thread so that it can be given up: if it is, that thread
    owns `fd` and closes it (releasing the lock) once granted."""
    granted = threading.Event()
    decided = threading.Lock()
    abandoned = False

    def wait():
        fcntl.flock(fd, fcntl.LOCK_EX)
        with decided:
            if abandoned:
                os.close(fd)
            else:
                granted.set()

    threading.Thread(target=wait, name="sqlite-turn", daemon=True).start()
    if granted.wait(timeout):
        return True
    with decided:
        if granted.is_set():
            return True
        abandoned = True
    return False


class TurnTakingCursor(base.SQLiteCursorWrapper):
    def execute(self, query, params=None):
        turn = self.turn
        if turn is None or self.connection.in_transaction or not WRITES.match(query):
            return super().execute(query, params)
        turn.take()
        try:
            return super().execute(query, params)
        finally:
            turn.give_back()

    def executemany(self, query, param_list):
        turn = self.turn
        if turn is None or self.connection.in_transaction or not WRITES.match(query):
            return super().executemany(query, param_list)
        turn.take()
        try:
            return super().executemany(query, param_list)
        finally:
            turn.give_back()


class DatabaseWrapper(base.DatabaseWrapper):
    turn = None

    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        if self.turn is None and not self.is_in_memory_db():
            name = str(self.settings_dict["NAME"])
            timeout = float(self.settings_dict["OPTIONS"].get("timeout", 5))
            self.turn = Turn(f"{name}-turn", timeout)
        return connection

    def create_cursor(self, name=None):
        cursor = self.connection.cursor(factory=TurnTakingCursor)
        cursor.turn = self.turn
        return cursor

    def _start_transaction_under_autocommit(self):
        if self.turn is None or self.turn.fd is not None:
            return super()._start_transaction_under_autocommit()
        self.turn.take()
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self.turn.give_back()
            raise

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._give_back_turn()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._give_back_turn()

    def _close(self):
        try:
            return super()._close()
        finally:
            if self.turn is not None:
                self.turn.give_back()

    def _give_back_turn(self):
        # Not while SQLite still holds the transaction (a COMMIT refused by a deferred
        # constraint leaves it open until the ROLLBACK that follows).
        if self.turn is None or self.turn.fd is None:
            return
        if self.connection is None or not self.connection.in_transaction:
            self.turn.give_back()
