"""Start a child in its own process group, and make sure nothing of that group survives.

A step's command runs as the leader of a new session (and so of a new process group
whose id is the leader's pid). Killing the group reaches every child it started — also
backgrounded ones and ones that ignore SIGTERM — unless a child deliberately starts a
session of its own, which no ordinary script does.

The leader is not reaped until the group has been killed: while it is a zombie its pid
(= the group id) cannot be reused, so a late `killpg` can never hit an unrelated group.
"""

import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """preexec_fn: have the kernel SIGKILL this child when the process that started it
    dies. A worker killed with SIGKILL then takes its step's shell with it instead of
    leaving it running beside the retry the reaper starts."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:  # pragma: no cover - not Linux
        pass


def start_in_new_group(
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: str | Path,
    preexec: Callable[[], None] | None = None,
) -> subprocess.Popen:
    """Popen with stdin closed, stdout/stderr piped and a fresh session/process group.
    `preexec` runs in the child just before exec (the sandbox's rlimits).

    Raises OSError (FileNotFoundError, PermissionError, …) when argv[0] cannot be run;
    the caller turns that into a failed outcome.
    """

    def prepare_child():
        die_with_parent()
        if preexec is not None:
            preexec()

    return subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
        start_new_session=True,
        close_fds=True,
        preexec_fn=prepare_child,
    )


def signal_group(pgid: int, sig: int) -> bool:
    """Send sig to every process of the group. False when no process of it is left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        # A member changed its uid (setuid binary); the rest of the group still got it.
        return True
    return True


def signal_members(pgid: int, sig: int, *, sparing: int) -> None:
    """Send sig to every process of the group except the one `sparing`. The sandbox
    spares its bwrap: bwrap dies of SIGTERM and takes the whole sandbox with it at once,
    leaving the step's own TERM handlers no grace period.

    Members are found in /proc and signalled through a pidfd after checking again that
    the pid still belongs to the group, so a pid reused in between is never hit."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == sparing:
            continue
        pid = int(entry.name)
        if _group_of(pid) != pgid:
            continue
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            continue
        try:
            if _group_of(pid) == pgid:
                signal.pidfd_send_signal(pidfd, sig)
        except OSError:
            pass
        finally:
            os.close(pidfd)


def _group_of(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[2])
    except (OSError, IndexError, ValueError):
        return None


def group_alive(pgid: int) -> bool:
    return signal_group(pgid, 0)


def leader_exited(proc: subprocess.Popen) -> bool:
    """True once the group leader has exited, without reaping it (see the module doc)."""
    if proc.returncode is not None:
        return True
    if not hasattr(os, "waitid"):  # pragma: no cover - macOS before Python 3.13
        return proc.poll() is not None
    try:
        result = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        # Someone else reaped it already.
        return True
    return result is not None


def kill_group_now(proc: subprocess.Popen) -> int:
    """SIGKILL whatever is left of the group (background children of a finished
    command), then reap the leader. Returns the leader's exit status."""
    signal_group(proc.pid, signal.SIGKILL)
    return proc.wait()


def terminate_group(
    proc: subprocess.Popen,
    grace: float,
    *,
    on_tick: Callable[[], None] | None = None,
    send_sigterm: Callable[[subprocess.Popen], None] | None = None,
) -> int:
    """SIGTERM the group (through `send_sigterm(proc)` when given), wait up to `grace`
    seconds for the leader, then SIGKILL the group. `on_tick` is called about every 50 ms
    while waiting (to keep draining pipes). Returns the leader's exit status."""
    if send_sigterm is not None:
        send_sigterm(proc)
    else:
        signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + max(0.0, grace)
    while time.monotonic() < deadline and not leader_exited(proc):
        if on_tick:
            on_tick()
        else:
            time.sleep(0.05)
    return kill_group_now(proc)
