"""A step's resource caps (SPEC §13, docs/sandbox.md): rlimits set in the step's process
before exec, and the error that names the cap a failed step ran into."""

import resource
import signal
from dataclasses import dataclass


@dataclass(frozen=True)
class StepLimits:
    """Per-step caps; None means no cap of that kind."""

    cpu_seconds: int | None
    memory_mb: int | None
    max_file_mb: int | None
    max_processes: int | None


# Generous enough for the demo and ordinary scripts (python3, git, curl, pip): memory is
# address space, which runtimes reserve well above what they touch, and a process cap
# counts threads too.
DEFAULT_LIMITS = StepLimits(cpu_seconds=3600, memory_mb=4096, max_file_mb=1024, max_processes=256)

# A step that ignores SIGXCPU gets SIGKILL this many CPU seconds later.
CPU_KILL_MARGIN_SECONDS = 2
# What a failed allocation prints in the usual runtimes, for naming memory_mb.
ALLOCATION_FAILURES = (
    "memoryerror",
    "cannot allocate memory",
    "out of memory",
    "std::bad_alloc",
    "xmalloc: cannot allocate",
)
# What a refused fork or thread start prints (EAGAIN at the process cap): bash, Python,
# glibc's perror. A bare "Resource temporarily unavailable" also means a non-blocking
# read found nothing, so it is not enough on its own.
FORK_FAILURES = (
    "fork: retry",
    "fork: resource temporarily unavailable",
    "cannot fork",
    "can't start new thread",
)


def limit_error(limits: StepLimits, returncode: int, last_stderr: str) -> str | None:
    """The error naming the limit a failed step ran into, or None. A command killed by
    signal N shows as exit status 128 + N through bwrap or bash, as -N without them."""
    signum = returncode - 128 if returncode > 128 else -returncode if returncode < 0 else 0
    if signum == signal.SIGXCPU and limits.cpu_seconds is not None:
        return f"step exceeded cpu_seconds={limits.cpu_seconds} (killed by SIGXCPU)"
    if signum == signal.SIGXFSZ and limits.max_file_mb is not None:
        return f"step exceeded max_file_mb={limits.max_file_mb} (killed by SIGXFSZ)"
    lowered = (last_stderr or "").lower()
    if limits.memory_mb is not None and any(text in lowered for text in ALLOCATION_FAILURES):
        return f"step exceeded memory_mb={limits.memory_mb} ({last_stderr.strip()[:120]})"
    return fork_refused(limits, last_stderr)


def fork_refused(limits: StepLimits, line: str) -> str | None:
    """The error for a stderr line saying a fork or thread was refused (EAGAIN: the
    process cap), or None. A fork bomb never ends by itself, so the executor stops the
    step on the first such line."""
    lowered = (line or "").lower()
    if limits.max_processes is not None and any(text in lowered for text in FORK_FAILURES):
        return f"step exceeded max_processes={limits.max_processes} ({line.strip()[:120]})"
    return None


def apply_rlimits(limits: StepLimits, *, processes: bool) -> None:
    mb = 1024 * 1024
    if limits.cpu_seconds is not None:
        soft = limits.cpu_seconds
        resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + CPU_KILL_MARGIN_SECONDS))
    if limits.memory_mb is not None:
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb,) * 2)
    if limits.max_file_mb is not None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.max_file_mb * mb,) * 2)
    if processes and limits.max_processes is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes,) * 2)
