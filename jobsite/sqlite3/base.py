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
when it is released; they wait in the calling thread (round 9b measured a thread that
waits and hands the turn over as slower than no turn at all). The turn is only a queue
in front of SQLite's lock, not a replacement for it: a process without it (the sqlite3
shell, a tool) is still kept out by SQLite, and waits in its busy handler as before. The
file is opened when the turn is taken and closed when it is given back, so no turn is
shared across a fork. A writer that finds the turn held for longer than the database's
`timeout` fails at once, as SQLite would have ("database is locked").
"""

import fcntl
import os
import re
import struct
import time

from django.db import OperationalError
from django.db.backends.sqlite3 import base

# A statement that writes, outside a transaction (django-q2's ORM broker). Anything
# else runs as before: a write not recognised here still waits in SQLite's busy handler.
WRITES = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


# The time the turn was taken (time.monotonic(), which all processes share), written at
# the start of the file by its holder and zeroed when given back.
TAKEN_AT = struct.Struct("d")
NOT_TAKEN = TAKEN_AT.pack(0.0)


class Turn:
    """One writer's turn on one database file: `take()` blocks until it is this
    writer's, `give_back()` releases it. Not re-entrant; one per connection."""

    def __init__(self, path: str, timeout: float, mode: int = 0o644):
        self.path = path
        self.timeout = timeout
        self.mode = mode  # the database file's: every user who may write it may take turns
        self.fd = None
        self.stamps = True

    def take(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, self.mode)
        except PermissionError:  # made by another user without write access for us:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)  # flock needs none
            self.stamps = False
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if self.held_too_long(fd):
                    raise OperationalError("database is locked") from None
                # Blocks in the kernel until given back, or until its holder ends.
                fcntl.flock(fd, fcntl.LOCK_EX)
            if self.stamps:
                os.pwrite(fd, TAKEN_AT.pack(time.monotonic()), 0)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd

    def held_too_long(self, fd: int) -> bool:
        """Whether the turn has been held for longer than the timeout: a holder stopped
        in the middle of a write (SIGSTOP, a debugger) fails the writers that come after
        the timeout at once, as SQLite's busy handler would have; those already waiting
        wait until it goes on or ends."""
        stamp = os.pread(fd, TAKEN_AT.size, 0)
        if len(stamp) < TAKEN_AT.size:
            return False
        (taken_at,) = TAKEN_AT.unpack(stamp)
        return taken_at > 0 and time.monotonic() - taken_at > self.timeout

    def give_back(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            try:
                if self.stamps:
                    os.pwrite(fd, NOT_TAKEN, 0)
            finally:
                os.close(fd)  # closing the file releases its lock


class TurnTakingCursor(base.SQLiteCursorWrapper):
    def execute(self, query, params=None):
        return self._in_turn(query, super().execute, query, params)

    def executemany(self, query, param_list):
        return self._in_turn(query, super().executemany, query, param_list)

    def _in_turn(self, query, run, *args):
        """`run(*args)`; a statement that writes outside a transaction takes the turn
        for itself (inside one, the transaction holds it)."""
        turn = self.turn
        if turn is None or self.connection.in_transaction or not WRITES.match(query):
            return run(*args)
        turn.take()
        try:
            return run(*args)
        finally:
            turn.give_back()


class DatabaseWrapper(base.DatabaseWrapper):
    turn = None

    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        if self.turn is None and not self.is_in_memory_db():
            name = str(self.settings_dict["NAME"])
            timeout = float(self.settings_dict["OPTIONS"].get("timeout", 5))
            try:
                mode = os.stat(name).st_mode & 0o666
            except OSError:
                mode = 0o644
            self.turn = Turn(f"{name}-turn", timeout, mode)
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
