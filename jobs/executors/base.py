"""What every executor gets and gives back.

Executors are a leaf: no models, no requests. They get a StepContext, do their work,
report logs and progress through it, and return an Outcome. The engine owns every state
change (SPEC §4, §7).
"""

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from .sandbox import DEFAULT_POLICY, SandboxPolicy

SUCCEEDED = "succeeded"
FAILED = "failed"

LEVELS = ("DEBUG", "INFO", "WARN", "ERROR")


@dataclass
class Outcome:
    status: str  # SUCCEEDED or FAILED
    outputs: dict = field(default_factory=dict)
    error: str | None = None
    exit_code: int | None = None

    @classmethod
    def ok(cls, outputs: dict | None = None, exit_code: int | None = None) -> Self:
        return cls(SUCCEEDED, outputs or {}, None, exit_code)

    @classmethod
    def fail(cls, error: str, outputs: dict | None = None, exit_code: int | None = None) -> Self:
        return cls(FAILED, outputs or {}, error, exit_code)


class StepContext:
    """Everything a step may know and do while it runs.

    The engine subclasses this to write logs and progress to the job's event stream and
    to set the stop reason from its heartbeat thread; tests use it as it is.
    """

    def __init__(
        self,
        *,
        job_id: object = "job",
        step_id: str = "step",
        with_: dict | None = None,
        vars: dict | None = None,
        params: dict | None = None,
        upstream: dict | None = None,
        env: dict | None = None,
        workdir: str | Path | None = None,
        artifacts_dir: str | Path | None = None,
        inputs_dir: str | Path | None = None,
        timeout: float | None = None,
        kill_grace: float = 1.0,
        sandbox: SandboxPolicy | None = None,
    ) -> None:
        self.job_id = str(job_id)
        self.step_id = step_id
        self.with_ = with_ or {}
        self.vars = vars or {}
        self.params = params or {}
        self.upstream = upstream or {}  # {step_id: outputs} of steps upstream of this one
        self.env = env or {}  # VAR_*, PARAM_*, JOBSITE_JOB_ID, JOBSITE_STEP_ID
        self.workdir = Path(workdir) if workdir else None
        self.artifacts_dir = Path(artifacts_dir) if artifacts_dir else None
        self.inputs_dir = Path(inputs_dir) if inputs_dir else None
        self.timeout = timeout  # seconds, or None
        self.kill_grace = kill_grace
        # How a shell step is confined (network, limits): a SandboxPolicy that the engine
        # fills from the workspace and the template; without one, the defaults.
        self.sandbox = sandbox if sandbox is not None else DEFAULT_POLICY
        self.started = time.monotonic()
        self.logs: list[
            tuple[str, str]
        ] = []  # (level, message) — the engine's subclass writes them out instead
        self.last_progress: float | None = None
        self._stop_reason: str | None = None
        self._stop_lock = threading.Lock()

    # --- reporting --------------------------------------------------------------------
    def log(self, level: str, message: str) -> None:
        self.logs.append((level, message))

    def progress(self, pct: float) -> None:
        self.last_progress = max(0.0, min(100.0, float(pct)))

    # --- stopping ---------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        """Ask the step to stop (cancel, lost lease). The first reason wins."""
        with self._stop_lock:
            if self._stop_reason is None:
                self._stop_reason = reason

    def should_stop(self) -> str | None:
        """None while the step may keep running, else why it must stop: "canceled",
        "timed out after N s", or "lease lost". Cheap: call it often."""
        if (
            self._stop_reason is None
            and self.timeout
            and time.monotonic() - self.started > self.timeout
        ):
            self.request_stop(f"timed out after {int(self.timeout)} s")
        return self._stop_reason

    def heartbeat(self) -> bool:
        """For python steps: True when the step should stop (cancel requested, timeout)."""
        return self.should_stop() is not None


class Executor:
    """Base class of a step type.

    `required` and `optional` name the keys allowed in the step's `with`. Keys listed in
    `raw_keys` are never passed through {{ }} substitution (a shell `script`).
    `uses_files`: the step gets a work directory, its inputs staged in `inputs_dir`, and
    what it leaves in `artifacts_dir` becomes artifacts. Types that never touch files
    say False and are spared creating and removing the directories.
    """

    name = ""
    required: frozenset = frozenset()
    optional: frozenset = frozenset()
    raw_keys: frozenset = frozenset()
    # The key of `with` that is an argv list (a shell `command`): the template validator
    # and the engine apply SPEC §3's argv rules to it (templates_app/definition/argv.py).
    argv_key: str | None = None
    uses_files = True
    description = ""
    # The output keys every step of this type can produce; None: any (see output_names).
    known_outputs: frozenset | None = None

    def validate(self, with_: dict) -> list[tuple[str | None, str]]:
        """Static checks of the step's `with` at template save time: a list of
        (key, message) pairs; key is None for a problem with the whole block."""
        problems = []
        if not isinstance(with_, dict):
            return [(None, "must be a mapping")]
        for key in sorted(self.required - set(with_)):
            problems.append((key, "is required"))
        for key in sorted(set(with_) - self.required - self.optional):
            problems.append((key, f"is not a parameter of '{self.name}' steps"))
        return problems

    def output_names(self, with_: dict) -> frozenset | None:
        """The output keys a step with this `with` can produce, when the type knows them
        (a job's declared `outputs` may only name those); None when any key may come
        (a shell script's `$JOBSITE_OUTPUT`, a python callable's dict)."""
        return self.known_outputs

    def run(self, ctx: StepContext) -> Outcome:  # pragma: no cover - interface
        raise NotImplementedError


def has_placeholder(value: object) -> bool:
    """True for a string that still holds a {{ }} reference. Save-time validation skips
    type checks on such values: they only get their type once the engine substitutes
    them, and run() checks them again."""
    return isinstance(value, str) and "{{" in value


def is_number(value: object) -> bool:
    """int or float, but not bool (YAML's `true` is not a number of seconds)."""
    return isinstance(value, int | float) and not isinstance(value, bool)
