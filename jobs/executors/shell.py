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

import json
import os
import re
import selectors
import shutil
import signal
import tempfile
import time
from pathlib import Path

from . import process_group, sandbox
from .base import Executor, Outcome, is_number

INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")
MAX_SCRIPT_BYTES = 120 * 1024
MAX_LINE_BYTES = 64 * 1024  # a longer run without a newline is logged in pieces
MAX_OUTPUT_FILE_BYTES = 1024 * 1024
POLL_SECONDS = 0.1
# After the command exits and its group is killed, how long to keep reading output still
# buffered in the pipes (or held open by a child that escaped into its own session).
DRAIN_SECONDS = 2.0
# How often a sandboxed step's processes are counted (a scan of /proc).
PROCESS_COUNT_SECONDS = 1.0
OUTPUT_FILE_NAME = ".jobsite-output"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
OUTPUT_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
LEVEL_PREFIXES = (
    ("DEBUG:", "DEBUG"),
    ("INFO:", "INFO"),
    ("WARNING:", "WARN"),
    ("WARN:", "WARN"),
    ("ERROR:", "ERROR"),
)
# One startswith() call tells whether a line has any level prefix (most have none).
ANY_LEVEL_PREFIX = tuple(prefix for prefix, _ in LEVEL_PREFIXES)


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

    def validate(self, with_):
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

    def run(self, ctx):
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
                preexec=lambda: sandbox.apply_rlimits(limits, processes=False),
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
            watch_stderr=lambda line: sandbox.fork_refused(limits, line),
            send_sigterm=None if visible is None else spare_bwrap,
            watch_processes=watch_processes,
        )
        returncode = proc.returncode
        if stop_reason:
            return Outcome.fail(stop_reason, exit_code=returncode)
        if returncode != 0:
            error = sandbox.limit_error(limits, returncode, last_stderr)
            return Outcome.fail(error or exit_error(returncode, last_stderr), exit_code=returncode)
        return Outcome.ok(read_outputs(output_file, ctx), exit_code=0)


def resolve_inside(command, path, workdir, visible_dirs):
    """argv[0] as the sandbox will find it, or None when it is not there: a bare name on
    the inside PATH, or a path within the system dirs or the step's own dirs."""
    if "/" not in command:
        return shutil.which(command, path=path)
    full = os.path.normpath(os.path.join(workdir, command))
    inside = sandbox.is_system_path(full) or any(
        sandbox.is_within(full, directory) for directory in visible_dirs
    )
    return full if inside and os.path.exists(full) else None


def argv_text(item):
    if item is None:
        return ""
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int | float):
        return str(item)
    return item  # a string; a list or mapping stays one and fails validation


def env_problems(env):
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


def step_environment(engine_env, step_env):
    env = {name: os.environ[name] for name in INHERITED_ENV if name in os.environ}
    env.setdefault("PATH", os.defpath)
    env.setdefault("LANG", "C.UTF-8")
    env.update({str(k): str(v) for k, v in engine_env.items()})
    for name, value in step_env.items():
        env[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return env


def split_level(line, default):
    for prefix, level in LEVEL_PREFIXES:
        if line.startswith(prefix):
            rest = line[len(prefix) :]
            return level, rest[1:] if rest.startswith(" ") else rest
    return default, line


def spare_bwrap(proc):
    """SIGTERM for a sandboxed step: to its processes, not to bwrap (the leader)."""
    process_group.signal_members(proc.pid, signal.SIGTERM, sparing=proc.pid)


def follow_process(proc, ctx, *, watch_stderr=None, send_sigterm=None, watch_processes=None):
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


def exit_error(returncode, last_stderr):
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


def read_outputs(path, ctx):
    """The step's outputs from $JOBSITE_OUTPUT: one JSON object, or lines of `key=value`
    and `key<<DELIMITER` … `DELIMITER` (a multi-line value, as GITHUB_OUTPUT takes it:
    the documented form for any value a user controls, docs/templates.md)."""
    with open(path, "rb") as f:
        raw = f.read(MAX_OUTPUT_FILE_BYTES + 1)
    if len(raw) > MAX_OUTPUT_FILE_BYTES:
        ctx.log(
            "WARN", f"$JOBSITE_OUTPUT is larger than {MAX_OUTPUT_FILE_BYTES // 1024} KiB; ignored"
        )
        return {}
    text = raw.decode("utf-8", errors="replace")
    if text.lstrip().startswith("{"):
        try:
            outputs = json.loads(text)
        except ValueError as exc:
            ctx.log("WARN", f"$JOBSITE_OUTPUT is not valid JSON ({exc}); no outputs")
            return {}
        return outputs  # text starting with "{" that parses is always an object
    outputs = {}
    lines = text.splitlines()
    number = 0
    while number < len(lines):
        line = lines[number]
        number += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        equals, heredoc = line.find("="), line.find("<<")
        if heredoc > 0 and (equals < 0 or heredoc < equals):
            key, delimiter = line[:heredoc].strip(), line[heredoc + 2 :]
            if not OUTPUT_KEY.match(key) or not delimiter.strip():
                ctx.log("WARN", f"$JOBSITE_OUTPUT line {number} is not key<<DELIMITER; skipped")
                continue
            try:
                end = lines.index(delimiter, number)
            except ValueError:
                ctx.log(
                    "WARN",
                    f"$JOBSITE_OUTPUT line {number}: no line {delimiter!r} ends {key}; ignored from here",
                )
                break
            outputs[key] = "\n".join(lines[number:end])
            number = end + 1
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not OUTPUT_KEY.match(key):
            ctx.log("WARN", f"$JOBSITE_OUTPUT line {number} is not key=value; skipped")
            continue
        outputs[key] = value.strip()
    return outputs
