"""Finding a step's processes from outside, with the sandbox on or off."""

import time
import uuid
from pathlib import Path


def live_processes_running(marker):
    """Pids of running processes whose command line contains `marker` (zombies waiting
    for a reaper that may never come in a container do not count: they run nothing).
    Found by command line, not by process group: inside the sandbox a step's `$$` is a
    pid of its own PID namespace."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def wait_until_gone(marker, within=1.0):
    deadline = time.monotonic() + within
    while live_processes_running(marker) and time.monotonic() < deadline:
        time.sleep(0.02)
    return live_processes_running(marker)


def unique_sleep():
    """A `sleep` argument no other process on the machine has: 30.<random digits>."""
    return f"30.{uuid.uuid4().int % 10**9:09d}"
