"""The uids sandboxed steps run as when the worker is root (docs/sandbox.md): one per
running step on this host, leased with an flock on a file per uid."""

import errno
import fcntl
import os
from pathlib import Path

# Uids handed to steps when the worker is root: far above login users and above the
# ranges /etc/subuid usually hands out, one per concurrently running step on this host.
STEP_UID_RANGE = range(1_700_000_000, 1_700_010_000)
# Where the leases of those uids live; shared by every worker process of the host. /run
# is root's and empty after a reboot; where it is missing (some containers), /tmp.
UID_LEASE_DIRS = (Path("/run/jobsite-sandbox"), Path("/tmp/jobsite-sandbox-uids"))


def lease_step_uid() -> tuple[int, int]:
    """(uid, fd) of a uid no other running step on this host holds. The lease is an
    flock on a file per uid: it ends when the fd is closed, also when the worker dies."""
    lease_dir = uid_lease_dir()
    # The lowest free one: as many lock files as steps ever ran at once on this host, and
    # trying the held ones first costs microseconds each.
    for uid in STEP_UID_RANGE:
        fd = os.open(lease_dir / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                continue
            raise
        return uid, fd
    raise RuntimeError(f"all {len(STEP_UID_RANGE)} sandbox uids are in use on this host")


def uid_lease_dir() -> Path:
    for directory in UID_LEASE_DIRS:
        if not directory.parent.is_dir():
            continue
        directory.mkdir(mode=0o700, exist_ok=True)
        info = directory.lstat()
        # In /tmp anyone could have made it first, to hand out uids of their choosing.
        if (
            info.st_uid != 0
            or info.st_mode & 0o077
            or not os.path.isdir(directory)
            or directory.is_symlink()
        ):
            raise PermissionError(f"{directory} is not root's own directory; refusing to use it")
        return directory
    raise FileNotFoundError(f"none of {', '.join(map(str, UID_LEASE_DIRS))} can be made")


def give_tree_to(path: str | Path, uid: int) -> None:
    """chown a directory and what is in it (staged by the worker) to the step's uid."""
    os.chown(path, uid, uid, follow_symlinks=False)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, uid, follow_symlinks=False)
