"""A step process's stdout and stderr, logged line by line until the process and its
whole group are gone (the shell executor's; SPEC §7). A line may start with a level
(`ERROR: …`); without one stdout is INFO and stderr WARN."""

import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable

from . import process_group
from .base import StepContext

MAX_LINE_BYTES = 64 * 1024  # a longer run without a newline is logged in pieces
POLL_SECONDS = 0.1
# After the command exits and its group is killed, how long to keep reading output still
# buffered in the pipes (or held open by a child that escaped into its own session).
DRAIN_SECONDS = 2.0
# How often a sandboxed step's processes are counted (a scan of /proc).
PROCESS_COUNT_SECONDS = 1.0
LEVEL_PREFIXES = (
    ("DEBUG:", "DEBUG"),
    ("INFO:", "INFO"),
    ("WARNING:", "WARN"),
    ("WARN:", "WARN"),
    ("ERROR:", "ERROR"),
)
# One startswith() call tells whether a line has any level prefix (most have none).
ANY_LEVEL_PREFIX = tuple(prefix for prefix, _ in LEVEL_PREFIXES)


def split_level(line: str, default: str) -> tuple[str, str]:
    for prefix, level in LEVEL_PREFIXES:
        if line.startswith(prefix):
            rest = line[len(prefix) :]
            return level, rest[1:] if rest.startswith(" ") else rest
    return default, line


def follow_process(
    proc: subprocess.Popen,
    ctx: StepContext,
    *,
    watch_stderr: Callable[[str], str | None] | None = None,
    send_sigterm: Callable[[subprocess.Popen], None] | None = None,
    watch_processes: Callable[[], str | None] | None = None,
) -> tuple[str | None, str]:
    """Log the process's stdout/stderr line by line until it and its whole group are
    gone, killing the group when ctx asks the step to stop, when `watch_stderr` returns
    a reason for a stderr line (a fork refused at the process cap) or when
    `watch_processes()`, called every PROCESS_COUNT_SECONDS, returns one.
    `send_sigterm(proc)` replaces the group-wide SIGTERM (the sandbox spares bwrap).

    Order of events: poll output and ctx.should_stop() every POLL_SECONDS; on a stop
    reason SIGTERM the group and SIGKILL it after ctx.kill_grace; once the leader has
    exited, SIGKILL what is left of its group, then drain the pipes (bounded by
    DRAIN_SECONDS in case an escaped child still holds them). Returns (stop reason or
    None, last stderr line).
    """
    streams = {proc.stdout.fileno(): "INFO", proc.stderr.fileno(): "WARN"}
    pending = {fd: b"" for fd in streams}  # the unfinished last line of each stream
    last_stderr = [""]
    watched_reason = [None]
    selector = selectors.DefaultSelector()
    for fd in streams:
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)

    def emit(fd, raw):
        """Log the lines of `raw`, complete lines without their newlines. A read holds
        hundreds of lines: they are decoded and split once, not one by one. Decoding
        the whole read gives the same text as decoding line by line, because a newline
        byte is never part of a multi-byte UTF-8 sequence."""
        default = streams[fd]
        text = raw.decode("utf-8", errors="replace")
        lines = text.split("\n")
        if "\r" in text:
            lines = [line.rstrip("\r") for line in lines]
        log = ctx.log
        for line in lines:
            if line.startswith(ANY_LEVEL_PREFIX):
                level, line = split_level(line, default)
            else:
                level = default
            if default == "WARN" and line.strip():
                last_stderr[0] = line.strip()
                if watch_stderr is not None and watched_reason[0] is None:
                    watched_reason[0] = watch_stderr(line)
            log(level, line)

    def read_ready(timeout):
        for key, _ in selector.select(timeout):
            fd = key.fd
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not data:
                selector.unregister(fd)
                if pending[fd]:
                    emit(fd, pending[fd])
                    pending[fd] = b""
                continue
            data = pending[fd] + data if pending[fd] else data
            last_newline = data.rfind(b"\n")
            if last_newline >= 0:
                emit(fd, data[:last_newline])
                data = data[last_newline + 1 :]
            while len(data) >= MAX_LINE_BYTES:
                emit(fd, data[:MAX_LINE_BYTES])
                data = data[MAX_LINE_BYTES:]
            pending[fd] = data

    stop_reason = None
    kill_at = None
    drain_until = None
    count_at = time.monotonic() + PROCESS_COUNT_SECONDS
    try:
        while selector.get_map():
            if drain_until is None:
                if (
                    watch_processes is not None
                    and watched_reason[0] is None
                    and time.monotonic() >= count_at
                ):
                    watched_reason[0] = watch_processes()
                    count_at = time.monotonic() + PROCESS_COUNT_SECONDS
                if stop_reason is None and (stop_reason := watched_reason[0] or ctx.should_stop()):
                    if send_sigterm is not None:
                        send_sigterm(proc)
                    else:
                        process_group.signal_group(proc.pid, signal.SIGTERM)
                    kill_at = time.monotonic() + max(0.0, ctx.kill_grace)
                if kill_at is not None and time.monotonic() >= kill_at:
                    process_group.signal_group(proc.pid, signal.SIGKILL)
                if process_group.leader_exited(proc):
                    process_group.kill_group_now(proc)
                    drain_until = time.monotonic() + DRAIN_SECONDS
            elif time.monotonic() >= drain_until:
                ctx.log(
                    "WARN",
                    "stopped reading output: a process outside the step's group keeps it open",
                )
                break
            read_ready(POLL_SECONDS)
    finally:
        selector.close()
        proc.stdout.close()
        proc.stderr.close()
    if proc.returncode is None:
        # Both pipes closed before the leader exited (it closed them itself).
        stop_reason = _wait_for_leader(proc, ctx, stop_reason, send_sigterm)
    return stop_reason, last_stderr[0]


def _wait_for_leader(proc, ctx, stop_reason, send_sigterm):
    # Usually the leader is exiting at this moment (bwrap closes the pipes on its way
    # out): look again soon, then back off to POLL_SECONDS.
    pause = 0.002
    while not process_group.leader_exited(proc):
        if stop_reason is None and (stop_reason := ctx.should_stop()):
            process_group.terminate_group(proc, ctx.kill_grace, send_sigterm=send_sigterm)
            return stop_reason
        time.sleep(pause)
        pause = min(pause * 2, POLL_SECONDS)
    process_group.kill_group_now(proc)
    return stop_reason
