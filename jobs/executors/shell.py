"""`shell` steps: an argv `command` or a bash `script`, in its own process group.

How a script runs: `bash --noprofile --norc -e -o pipefail -c <script> script`. The text
goes in as one argv item (never through a file the step could see or a stdin it could
read), `-e -o pipefail` stop it at the first failing command as GitHub Actions does, and
the trailing `script` becomes `$0`, so bash's own errors read "script: line 3: …". One
argv item is limited to 128 KiB by Linux, hence MAX_SCRIPT_BYTES. Values reach a script
only as environment variables; {{ }} is refused in scripts by the template validator.

The environment is built from scratch: a few harmless variables of the worker
(INHERITED_ENV), then the engine's VAR_*/PARAM_*/JOBSITE_* (`ctx.env`), then the step's
`env`, then JOBSITE_ARTIFACTS/OUTPUT/INPUTS. Nothing else of the server's environment
(SECRET_KEY, DATABASE_URL, …) reaches a step.

With the sandbox on (sandbox.sandbox_mode() == "bwrap", the default where bwrap works)
the command runs inside bubblewrap (sandbox.py, docs/sandbox.md): it cannot read the
worker's environment through /proc, the data dir or anything else of the host but its
own directories, and every process it starts dies with it. The limits of
`ctx.sandbox.limits` apply in both modes (the process cap only in the sandbox).
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from . import process_group, sandbox, step_limits
from .base import Executor, Outcome, StepContext, is_number
from .output_file import read_outputs
from .process_output import follow_process

INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")
MAX_SCRIPT_BYTES = 120 * 1024
OUTPUT_FILE_NAME = ".jobsite-output"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ShellExecutor(Executor):
    name = "shell"
    optional = frozenset({"command", "script", "env"})
    raw_keys = frozenset({"script"})
    argv_key = "command"
    description = (
        "Runs `command` (an argv list, no shell) or `script` (bash text) in a fresh "
        "working directory and its own process group. Variables arrive as VAR_* and "
        "PARAM_* environment variables; write outputs to $JOBSITE_OUTPUT and files to "
        "$JOBSITE_ARTIFACTS."
    )

    def validate(self, with_: dict) -> list[tuple[str | None, str]]:
        problems = super().validate(with_)
        if not isinstance(with_, dict):
            return problems
        if ("command" in with_) == ("script" in with_):
            problems.append((None, "needs exactly one of 'command' or 'script'"))
        if "command" in with_:
            command = with_["command"]
            if not isinstance(command, list):
                problems.append(
                    ("command", "must be a list of strings (argv); use 'script' for shell text")
                )
            elif not command:
                problems.append(("command", "must not be empty"))
            elif not all(isinstance(item, str) for item in command):
                problems.append(("command", "every item must be a string"))
        if "script" in with_:
            script = with_["script"]
            if not isinstance(script, str) or not script.strip():
                problems.append(("script", "must be non-empty text"))
            elif len(script.encode()) > MAX_SCRIPT_BYTES:
                problems.append(("script", f"is longer than {MAX_SCRIPT_BYTES // 1024} KiB"))
        if "env" in with_:
            problems.extend(("env", message) for message in env_problems(with_["env"]))
        return problems

    def run(self, ctx: StepContext) -> Outcome:
        command = ctx.with_.get("command")
        if isinstance(command, list):
            # An item that was one placeholder keeps its value's type: `{{ vars.days }}`
            # is 7, an optional variable left out is None. argv is text.
            ctx.with_ = {**ctx.with_, "command": [argv_text(item) for item in command]}
        problems = self.validate(ctx.with_)
        if problems:
            return Outcome.fail("; ".join(f"{key or 'with'} {msg}" for key, msg in problems))
        created_workdir = ctx.workdir is None
        workdir = Path(tempfile.mkdtemp(prefix="jobsite-step-")) if created_workdir else ctx.workdir
        try:
            workdir.mkdir(parents=True, exist_ok=True)
            return self._run_in(ctx, workdir)
        finally:
            if created_workdir:
                shutil.rmtree(workdir, ignore_errors=True)

    def _run_in(self, ctx, workdir):
        artifacts = ctx.artifacts_dir or workdir / "artifacts"
        inputs = ctx.inputs_dir or workdir / "inputs"
        artifacts.mkdir(parents=True, exist_ok=True)
        inputs.mkdir(parents=True, exist_ok=True)
        output_file = workdir / OUTPUT_FILE_NAME
        output_file.write_bytes(b"")

        env = step_environment(ctx.env, ctx.with_.get("env") or {})
        env["JOBSITE_ARTIFACTS"] = str(artifacts)
        env["JOBSITE_OUTPUT"] = str(output_file)
        env["JOBSITE_INPUTS"] = str(inputs)
        policy = ctx.sandbox or sandbox.DEFAULT_POLICY

        if sandbox.sandbox_mode() == "off":
            limits = policy.limits
            return self._start_and_follow(
                ctx,
                env,
                workdir,
                output_file,
                limits,
                wrap=lambda argv: argv,
                preexec=lambda: step_limits.apply_rlimits(limits, processes=False),
            )
        if problem := sandbox.bwrap_problem():
            return Outcome.fail(f"the step sandbox is required but {problem}")
        with sandbox.SandboxedRun(
            policy, workdir=workdir, artifacts_dir=artifacts, inputs_dir=inputs
        ) as run:
            visible = (workdir, artifacts, inputs)
            return self._start_and_follow(
                ctx,
                run.environment(env),
                workdir,
                output_file,
                policy.limits,
                wrap=run.argv,
                preexec=run.preexec,
                visible=visible,
                watch_processes=run.process_cap_reached,
            )

    def _start_and_follow(
        self,
        ctx,
        env,
        workdir,
        output_file,
        limits,
        *,
        wrap,
        preexec,
        visible=None,
        watch_processes=None,
    ):
        """Start the step's argv (through `wrap`: the sandbox's bwrap, or as it is), log
        it until it ends, and turn how it ended into an outcome."""
        if "script" in ctx.with_:
            bash = shutil.which("bash", path=env.get("PATH", ""))
            if bash is None:
                return Outcome.fail("bash was not found on PATH; cannot run a script")
            argv = [bash, "--noprofile", "--norc", "-e", "-o", "pipefail", "-c"]
            argv += [ctx.with_["script"], "script"]
        else:
            argv = list(ctx.with_["command"])
            if visible is not None:
                # Inside the sandbox bwrap would fail with its own message; say it as
                # the unsandboxed step does.
                resolved = resolve_inside(argv[0], env.get("PATH", ""), workdir, visible)
                if resolved is None:
                    return Outcome.fail(f"command not found: {argv[0]}")

        try:
            proc = process_group.start_in_new_group(
                wrap(argv), env=env, cwd=workdir, preexec=preexec
            )
        except FileNotFoundError:
            return Outcome.fail(f"command not found: {argv[0]}")
        except PermissionError:
            return Outcome.fail(f"permission denied: {argv[0]}")
        except OSError as exc:
            return Outcome.fail(f"could not start {argv[0]}: {exc.strerror or exc}")

        stop_reason, last_stderr = follow_process(
            proc,
            ctx,
            watch_stderr=lambda line: step_limits.fork_refused(limits, line),
            send_sigterm=None if visible is None else spare_bwrap,
            watch_processes=watch_processes,
        )
        returncode = proc.returncode
        if stop_reason:
            return Outcome.fail(stop_reason, exit_code=returncode)
        if returncode != 0:
            error = step_limits.limit_error(limits, returncode, last_stderr)
            return Outcome.fail(error or exit_error(returncode, last_stderr), exit_code=returncode)
        return Outcome.ok(read_outputs(output_file, ctx), exit_code=0)


def resolve_inside(
    command: str, path: str, workdir: Path, visible_dirs: Iterable[Path]
) -> str | None:
    """argv[0] as the sandbox will find it, or None when it is not there: a bare name on
    the inside PATH, or a path within the system dirs or the step's own dirs."""
    if "/" not in command:
        return shutil.which(command, path=path)
    full = os.path.normpath(os.path.join(workdir, command))
    inside = sandbox.is_system_path(full) or any(
        sandbox.is_within(full, directory) for directory in visible_dirs
    )
    return full if inside and os.path.exists(full) else None


def argv_text(item: object) -> object:
    if item is None:
        return ""
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int | float):
        return str(item)
    return item  # a string; a list or mapping stays one and fails validation


def env_problems(env: object) -> list[str]:
    if not isinstance(env, dict):
        return ["must be a mapping of names to strings"]
    problems = []
    for name, value in env.items():
        if not isinstance(name, str) or not ENV_NAME.match(name):
            problems.append(f"{name!r} is not a valid environment variable name")
        elif name.startswith("JOBSITE_"):
            problems.append(f"{name} is set by jobsite and cannot be overridden")
        elif not (isinstance(value, str) or is_number(value) or isinstance(value, bool)):
            problems.append(f"{name} must be a string, number or boolean")
    return problems


def step_environment(engine_env: dict, step_env: dict) -> dict[str, str]:
    env = {name: os.environ[name] for name in INHERITED_ENV if name in os.environ}
    env.setdefault("PATH", os.defpath)
    env.setdefault("LANG", "C.UTF-8")
    env.update({str(k): str(v) for k, v in engine_env.items()})
    for name, value in step_env.items():
        env[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return env


def spare_bwrap(proc: subprocess.Popen) -> None:
    """SIGTERM for a sandboxed step: to its processes, not to bwrap (the leader)."""
    process_group.signal_members(proc.pid, signal.SIGTERM, sparing=proc.pid)


def exit_error(returncode: int, last_stderr: str) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    error = f"exited with code {returncode}"
    if last_stderr and len(last_stderr) <= 200:
        error += f": {last_stderr}"
    return error
