"""One value per worker process: made on first use, and made again in a forked child.

django-q2 forks its worker processes from the cluster's; a child inherits its parent's
memory but not its threads, and must not share its parent's sockets. Connections and
threads kept for a process's lifetime are therefore keyed by its pid."""

import functools
import os
import threading
from collections.abc import Callable


def per_process[T](factory: Callable[[], T]) -> Callable[[], T]:
    """`factory()` once per process; the decorated function returns that value. Safe when
    two threads ask first at the same time (tests run two steps in threads): both get
    the one value, not one each."""
    made = {"pid": None, "value": None, "lock": threading.Lock()}
    # A child forked while another thread held the lock would wait for it forever.
    os.register_at_fork(after_in_child=lambda: made.update(lock=threading.Lock()))

    @functools.wraps(factory)
    def get():
        if made["pid"] != os.getpid():
            with made["lock"]:
                if made["pid"] != os.getpid():
                    made.update(pid=os.getpid(), value=factory())
        return made["value"]

    return get
