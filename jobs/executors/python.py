"""`python` steps: call an allow-listed `module:function(ctx)` in the worker process.

Only the callables named in settings.JOBSITE_PYTHON_STEPS run — a template can never
name arbitrary code. The callable gets the StepContext with `ctx.with_` set to the
step's `args`; it logs with ctx.log(), reports ctx.progress(), and should return early
when ctx.heartbeat() is True.
"""

import importlib
import json
import traceback

from django.conf import settings

from .base import Executor, Outcome, StepContext


def allowed_callables() -> set[str]:
    return set(getattr(settings, "JOBSITE_PYTHON_STEPS", ()))


def not_allowed_message(path: str) -> str:
    return f"callable '{path}' is not allowed; add it to JOBSITE_PYTHON_STEPS"


class PythonExecutor(Executor):
    name = "python"
    required = frozenset({"callable"})
    optional = frozenset({"args"})
    description = (
        "Calls a registered Python function `module:function(ctx)`; only the callables "
        "listed in the JOBSITE_PYTHON_STEPS setting may run. `args` arrives as "
        "ctx.with_; the returned dict becomes the step's outputs."
    )

    def validate(self, with_: dict) -> list[tuple[str | None, str]]:
        problems = super().validate(with_)
        if not isinstance(with_, dict):
            return problems
        if "callable" in with_:
            path = with_["callable"]
            if not isinstance(path, str) or path.count(":") != 1:
                problems.append(("callable", "must be 'module:function'"))
            elif path not in allowed_callables():
                problems.append(("callable", not_allowed_message(path)))
        if "args" in with_ and not isinstance(with_["args"], dict):
            problems.append(("args", "must be a mapping"))
        return problems

    def run(self, ctx: StepContext) -> Outcome:
        path = ctx.with_.get("callable")
        # Checked again here: the setting may have changed since the template was saved.
        if isinstance(path, str) and path not in allowed_callables():
            return Outcome.fail(not_allowed_message(path))
        problems = self.validate(ctx.with_)
        if problems:
            return Outcome.fail("; ".join(f"{key or 'with'} {msg}" for key, msg in problems))
        module_name, _, function_name = path.partition(":")
        try:
            function = getattr(importlib.import_module(module_name), function_name)
        except (ImportError, AttributeError) as exc:
            return Outcome.fail(f"cannot load '{path}': {type(exc).__name__}: {exc}")

        # The callable sees its args as ctx.with_; the engine's view is restored after.
        step_with = ctx.with_
        ctx.with_ = dict(step_with.get("args") or {})
        try:
            result = function(ctx)
        except (Exception, SystemExit) as exc:
            # The step's own code: its traceback belongs in the job's log.
            ctx.log("ERROR", traceback.format_exc().rstrip())
            return Outcome.fail(ctx.should_stop() or f"{type(exc).__name__}: {exc}")
        finally:
            ctx.with_ = step_with

        if reason := ctx.should_stop():
            return Outcome.fail(reason)
        if result is None:
            return Outcome.ok({})
        if not isinstance(result, dict):
            return Outcome.fail(f"returned {type(result).__name__}, expected a dict")
        try:
            json.dumps(result)
        except (TypeError, ValueError) as exc:
            return Outcome.fail(f"returned outputs that are not JSON-serializable: {exc}")
        return Outcome.ok(result)
