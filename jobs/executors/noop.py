"""`noop` steps: finish at once with the given outputs, or fail on purpose."""

from .base import Executor, Outcome, StepContext


class NoopExecutor(Executor):
    name = "noop"
    uses_files = False
    optional = frozenset({"outputs", "fail"})
    description = (
        "Succeeds at once with `outputs` (a mapping); `fail: true` makes it fail instead. "
        "For tests and benchmarks."
    )

    def validate(self, with_: dict) -> list[tuple[str | None, str]]:
        problems = super().validate(with_)
        if not isinstance(with_, dict):
            return problems
        if "outputs" in with_ and not isinstance(with_["outputs"], dict):
            problems.append(("outputs", "must be a mapping"))
        if "fail" in with_ and not isinstance(with_["fail"], bool):
            problems.append(("fail", "must be true or false"))
        return problems

    def output_names(self, with_: dict) -> frozenset:
        outputs = with_.get("outputs") if isinstance(with_, dict) else None
        return frozenset(outputs) if isinstance(outputs, dict) else frozenset()

    def run(self, ctx: StepContext) -> Outcome:
        outputs = ctx.with_.get("outputs") or {}
        if not isinstance(outputs, dict):
            return Outcome.fail("outputs must be a mapping")
        if ctx.with_.get("fail") in (True, "true"):
            return Outcome.fail("failed on purpose", outputs=outputs)
        return Outcome.ok(outputs)
